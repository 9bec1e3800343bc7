// Header-only (include/cllm_prefetch.h); SwiftPM needs one source file per C target.
