# BPF objects: vmlinux.h from the running kernel's BTF, clang -target bpf (CO-RE), bpftool skeletons.
find_program(BPF_CLANG NAMES clang clang-14 REQUIRED)
find_program(LLVM_STRIP NAMES llvm-strip llvm-strip-14 REQUIRED)
find_program(BPFTOOL NAMES bpftool PATHS /usr/sbin /usr/local/sbin REQUIRED)
set(L7TAP_KERNEL_BTF /sys/kernel/btf/vmlinux CACHE FILEPATH "kernel BTF used to generate vmlinux.h")

set(L7TAP_VMLINUX_DIR ${CMAKE_BINARY_DIR}/vmlinux)
add_custom_command(
  OUTPUT ${L7TAP_VMLINUX_DIR}/vmlinux.h
  COMMAND ${CMAKE_COMMAND} -E make_directory ${L7TAP_VMLINUX_DIR}
  COMMAND sh -c "test -r '${L7TAP_KERNEL_BTF}' || { echo 'l7tap: ${L7TAP_KERNEL_BTF} not found: this kernel has no BTF (CONFIG_DEBUG_INFO_BTF=y is required); boot a kernel with BTF or pass -DL7TAP_KERNEL_BTF=FILE' >&2; exit 1; }"
  COMMAND sh -c "'${BPFTOOL}' btf dump file '${L7TAP_KERNEL_BTF}' format c > '${L7TAP_VMLINUX_DIR}/vmlinux.h.tmp' && mv '${L7TAP_VMLINUX_DIR}/vmlinux.h.tmp' '${L7TAP_VMLINUX_DIR}/vmlinux.h'"
  COMMENT "Generating vmlinux.h from ${L7TAP_KERNEL_BTF}"
  VERBATIM)
add_custom_target(vmlinux_h DEPENDS ${L7TAP_VMLINUX_DIR}/vmlinux.h)

# l7tap_bpf_skeleton(NAME SOURCE HEADERS...) -> ${CMAKE_CURRENT_BINARY_DIR}/NAME.skel.h and target NAME_skel
function(l7tap_bpf_skeleton name source)
  set(obj ${CMAKE_CURRENT_BINARY_DIR}/${name}.bpf.o)
  set(skel ${CMAKE_CURRENT_BINARY_DIR}/${name}.skel.h)
  add_custom_command(
    OUTPUT ${obj}
    COMMAND ${BPF_CLANG} -g -O2 -target bpf -D__TARGET_ARCH_x86 -Wall -Werror
            -I${L7TAP_VMLINUX_DIR} -I${CMAKE_CURRENT_SOURCE_DIR} -c ${CMAKE_CURRENT_SOURCE_DIR}/${source} -o ${obj}
    # DWARF is not needed at run time (BTF stays); dropping it keeps the embedded skeleton small.
    COMMAND ${LLVM_STRIP} -g ${obj}
    DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/${source} ${ARGN} vmlinux_h ${L7TAP_VMLINUX_DIR}/vmlinux.h
    COMMENT "BPF ${source}"
    VERBATIM)
  add_custom_command(
    OUTPUT ${skel}
    COMMAND sh -c "'${BPFTOOL}' gen skeleton '${obj}' name ${name} > '${skel}.tmp' && mv '${skel}.tmp' '${skel}'"
    DEPENDS ${obj}
    COMMENT "Skeleton ${name}"
    VERBATIM)
  add_custom_target(${name}_skel DEPENDS ${skel})
endfunction()
