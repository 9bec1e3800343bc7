#define _GNU_SOURCE
#include "cllm_system.h"
#include <pthread.h>
#include <unistd.h>
#include <sys/syscall.h>

int cllm_set_thread_name(const char *name) {
    char shortName[16];
    size_t i = 0;
    for (; name[i] && i < 15; i++) shortName[i] = name[i];
    shortName[i] = 0;
    return pthread_setname_np(pthread_self(), shortName);
}

int cllm_thread_stack(void **low, size_t *size) {
    pthread_attr_t attr;
    int rc = pthread_getattr_np(pthread_self(), &attr);
    if (rc != 0) return rc;
    rc = pthread_attr_getstack(&attr, low, size);
    pthread_attr_destroy(&attr);
    return rc;
}

long cllm_thread_id(void) { return (long)syscall(SYS_gettid); }

void cllm_touch_stack(size_t bytes) {
    volatile char buffer[bytes];
    for (size_t i = 0; i < bytes; i += 512) buffer[i] = (char)i;
    if (bytes > 0) buffer[bytes - 1] = 1;
}
