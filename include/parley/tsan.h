/*  ThreadSanitizer annotations. libzmq is not instrumented, so TSAN cannot see that a
    message sent on an inproc socket happens before its receipt. Our frames are
    always zero-copy (the receiver gets the sender's buffer), so releasing on the
    buffer before the send and acquiring it after the receipt states exactly that
    edge, no more. Without -fsanitize=thread these compile to nothing. */
#ifndef PARLEY_TSAN_H
#define PARLEY_TSAN_H

#if defined(__SANITIZE_THREAD__)
void __tsan_acquire(void *addr);
void __tsan_release(void *addr);
#define PL_TSAN_RELEASE(addr) __tsan_release(addr)
#define PL_TSAN_ACQUIRE(addr) __tsan_acquire(addr)
#else
#define PL_TSAN_RELEASE(addr) ((void)(addr))
#define PL_TSAN_ACQUIRE(addr) ((void)(addr))
#endif

#endif
