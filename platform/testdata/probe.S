/*
 * probe NR [COUNT]: a static test program with no libc.
 *
 * Makes system call NR (all arguments zero) COUNT times (default 1), then
 * writes the last raw result as a signed decimal and a newline to stdout and
 * exits 0. Without NR it exits 2. Tests use it to see what a filter or a
 * tracer did to a system call (`probe 39` prints getpid's answer, `-1` is
 * EPERM), benchmarks to time COUNT round trips.
 */

        .intel_syntax noprefix
        .text
        .globl  _start
_start:
        mov     rbx, [rsp]
        cmp     rbx, 2
        jb      .Lusage
        mov     rdi, [rsp + 16]
        call    parse_decimal
        mov     r12, rax
        mov     r13, 1
        cmp     rbx, 3
        jb      .Lrun
        mov     rdi, [rsp + 24]
        call    parse_decimal
        mov     r13, rax
.Lrun:
        xor     r14d, r14d
        test    r13, r13
        jz      .Lprint
.Lloop:
        mov     rax, r12
        xor     edi, edi
        xor     esi, esi
        xor     edx, edx
        xor     r10d, r10d
        xor     r8d, r8d
        xor     r9d, r9d
        syscall
        mov     r14, rax
        dec     r13
        jnz     .Lloop
.Lprint:
        sub     rsp, 32
        lea     rsi, [rsp + 31]
        mov     byte ptr [rsi], 10
        mov     rax, r14
        xor     r8d, r8d
        test    rax, rax
        jns     .Ldigits
        neg     rax
        mov     r8d, 1
.Ldigits:
        mov     ecx, 10
.Ldigit:
        xor     edx, edx
        div     rcx
        add     dl, 48
        dec     rsi
        mov     [rsi], dl
        test    rax, rax
        jnz     .Ldigit
        test    r8d, r8d
        jz      .Lwrite
        dec     rsi
        mov     byte ptr [rsi], 45
.Lwrite:
        lea     rdx, [rsp + 32]
        sub     rdx, rsi
        mov     edi, 1
        mov     eax, 1
        syscall
        mov     eax, 231
        xor     edi, edi
        syscall
.Lusage:
        mov     eax, 231
        mov     edi, 2
        syscall

/* parse_decimal(rdi: char*) -> rax; stops at the first non-digit. */
parse_decimal:
        xor     eax, eax
.Lparse:
        movzx   ecx, byte ptr [rdi]
        sub     ecx, 48
        cmp     ecx, 9
        ja      .Lparsed
        imul    rax, rax, 10
        add     rax, rcx
        inc     rdi
        jmp     .Lparse
.Lparsed:
        ret

        .section .note.GNU-stack, "", @progbits
