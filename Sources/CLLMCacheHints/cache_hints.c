// Header-only (include/cllm_cache_hints.h); SwiftPM needs one source file per C target.
