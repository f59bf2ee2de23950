/*
 * The stub: the host process an application address space lives in.
 *
 * The Sentry starts it with the clone runner (traced, in the sandbox's
 * namespaces, with an empty root and no descriptors) and execveat()s this
 * static program from a memfd, so the address space holds nothing of the
 * Sentry: only this page, the kernel's stack, vDSO and vvar. The Sentry
 * then maps the application around it and never lets this code run except
 * to make a system call on the application's behalf:
 *
 *   rip := trampoline, registers := the call  ->  syscall; int3
 *
 * The int3 stops the stub (SIGTRAP) for the tracer, which reads rax and
 * puts the application's registers back. Linked at STUB_BASE (stub.ts).
 */

        .intel_syntax noprefix
        .text
        .globl  _start
_start:
        int3
        jmp     _start

        .balign 16
        .globl  trampoline
trampoline:
        syscall
        int3
        jmp     trampoline

        .section .note.GNU-stack, "", @progbits
