/*
 * sanitizer.h - whether this build runs under AddressSanitizer or
 * ThreadSanitizer (R1_UNDER_SANITIZER). Both reserve terabytes of address
 * space, so a limit on it (r1-audio-decoder's) cannot apply there, and
 * LeakSanitizer's check at exit needs files a confined process cannot open.
 */
#ifndef R1_BASE_SANITIZER_H
#define R1_BASE_SANITIZER_H

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define R1_UNDER_SANITIZER 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define R1_UNDER_SANITIZER 1
#endif
#endif

#endif
