// Leaf functions for benchmarks/probe_cost.py: each one's FIRST instruction is of one class, since that
// instruction is what a uprobe on the function's entry replaces with int3 and the kernel must then either
// emulate (cheap) or single-step out of line (a second trap). The rest only makes the function return.
	.text

	.globl f_nop
	.type f_nop, @function
	.p2align 4
f_nop:
	nop
	ret
	.size f_nop, . - f_nop

// The 5-byte nop is also what the kernel (6.18+) may rewrite into a call to its uprobe trampoline. Spelled
// as bytes: gas encodes nopl 0x0(%rax,%rax,1) as 4 bytes (no zero displacement), and the kernel wants
// exactly 0f 1f 44 00 00.
	.globl f_nop5
	.type f_nop5, @function
	.p2align 4
f_nop5:
	.byte 0x0f, 0x1f, 0x44, 0x00, 0x00  // nopl 0x0(%rax,%rax,1)
	ret
	.size f_nop5, . - f_nop5

	.globl f_push
	.type f_push, @function
	.p2align 4
f_push:
	push %rbp
	pop %rbp
	ret
	.size f_push, . - f_push

// Short jmp to the next instruction: emulated as a branch.
	.globl f_jmp
	.type f_jmp, @function
	.p2align 4
f_jmp:
	jmp 1f
1:
	ret
	.size f_jmp, . - f_jmp

// Taken or not (the caller's flags decide), both paths reach the same ret.
	.globl f_jcc
	.type f_jcc, @function
	.p2align 4
f_jcc:
	jne 1f
1:
	ret
	.size f_jcc, . - f_jcc

	.type call_helper, @function
	.p2align 4
call_helper:
	ret
	.size call_helper, . - call_helper

	.globl f_call
	.type f_call, @function
	.p2align 4
f_call:
	call call_helper
	ret
	.size f_call, . - f_call

	.globl f_sub
	.type f_sub, @function
	.p2align 4
f_sub:
	sub $0x18, %rsp
	add $0x18, %rsp
	ret
	.size f_sub, . - f_sub

	.globl f_lea
	.type f_lea, @function
	.p2align 4
f_lea:
	lea 0x8(%rsp), %rax
	ret
	.size f_lea, . - f_lea

	.globl f_mov
	.type f_mov, @function
	.p2align 4
f_mov:
	mov %rdi, %rax
	ret
	.size f_mov, . - f_mov

// The probed instruction is the ret itself.
	.globl f_ret
	.type f_ret, @function
	.p2align 4
f_ret:
	ret
	.size f_ret, . - f_ret

	.section .note.GNU-stack, "", @progbits
