#ifndef CLLM_SYSTEM_H
#define CLLM_SYSTEM_H
// Thread calls that glibc declares only under _GNU_SOURCE, which Swift's Glibc module does not define.
#include <stddef.h>
#include <pthread.h>

/// Names the calling thread (at most 15 characters are kept), so `top -H` and debuggers show it.
int cllm_set_thread_name(const char *name);

/// Lowest address and size of the calling thread's stack, from pthread_getattr_np.
int cllm_thread_stack(void **low, size_t *size);

/// The kernel's id of the calling thread.
long cllm_thread_id(void);
/// Writes `bytes` of the calling thread's stack (a variable-length array), so tests and the memory
/// benchmark can make a thread use a known depth of stack.
void cllm_touch_stack(size_t bytes);
#endif
