// asio-oss: resumable multipart upload to Alibaba Cloud OSS for Asio programs.
// Distributed under the MIT licence (see LICENSE).
#ifndef OSS_DETAIL_CONFIG_HPP
#define OSS_DETAIL_CONFIG_HPP

// Two build modes, as in Asio and Boost.MySQL:
//  - header-only (default): every non-template function is `inline` and its body, kept in
//    impl/*.ipp, is included by the header that declares it;
//  - separate compilation: define OSS_SEPARATE_COMPILATION everywhere and include <oss/src.hpp>
//    in exactly one translation unit, which then holds every body once.
#ifdef OSS_SEPARATE_COMPILATION
#define OSS_DECL
#else
#ifndef OSS_HEADER_ONLY
#define OSS_HEADER_ONLY 1
#endif
#define OSS_DECL inline
#endif

// Asio 1.22 only detects coroutine support on clang through libc++'s <experimental/coroutine>;
// with libstdc++ (Debian's default for clang) it must be told.
#if defined(__clang__) && defined(__cpp_impl_coroutine) && !defined(ASIO_HAS_CO_AWAIT)
#if __has_include(<coroutine>)
#define ASIO_HAS_CO_AWAIT 1
#endif
#endif

#endif  // OSS_DETAIL_CONFIG_HPP
