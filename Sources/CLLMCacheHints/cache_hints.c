// Header-only (include/cllm_cache_hints.h, include/cllm_transpose.h); SwiftPM needs one source file per C target.
