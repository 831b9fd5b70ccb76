# L7TAP_FUZZ=ON: a build of the fuzz targets only (tests/fuzz) and the libraries they test, with clang.
# Everything compiled here is instrumented for libFuzzer's coverage (fuzzer-no-link) and checked by ASan and
# UBSan, undefined behaviour aborting so that the fuzzer reports it; the targets add libFuzzer itself.
if(NOT CMAKE_CXX_COMPILER_ID STREQUAL "Clang" OR NOT CMAKE_C_COMPILER_ID STREQUAL "Clang")
  message(FATAL_ERROR "L7TAP_FUZZ needs clang and libFuzzer (libclang-rt-14-dev): configure with "
    "-DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ (make fuzz does)")
endif()
set(_sanitizers -fsanitize=address,undefined -fno-sanitize-recover=undefined)
add_compile_options(-fsanitize=fuzzer-no-link ${_sanitizers} -fno-omit-frame-pointer)
add_link_options(${_sanitizers})
