/*
 * dvisor native code: the only machine code the Deno process calls.
 *
 * Built by build.sh into a tiny shared object whose bytes live in
 * native_bin.ts; native_unsafe.ts loads it from a memfd with Deno.dlopen so
 * that both functions get V8's fast FFI call path.
 *
 * dv_syscall(nr, a0, a1, a2, a3, a4, a5) -> rax
 *   A raw system call. Returns the kernel's value unchanged: -errno on
 *   failure, never touching the thread's errno. The number is taken from
 *   the low 32 bits of the first argument (the kernel ignores the rest).
 *
 * dv_run(table) -> pid or -errno
 *   The clone runner. Blocks every signal, calls clone(2) with the table's
 *   flags and stack, restores the caller's signal mask and returns the
 *   child's pid. The child runs the table's steps (one system call each,
 *   see the layout below) with no stack, no calls and no JavaScript. A step
 *   that fails writes {u64 step, u64 errno} to the table and to errfd, then
 *   the child calls exit_group(127). A child that runs out of steps without
 *   an execve calls exit_group(0).
 *
 * dv_doorbell(table) -> pid or -errno
 *   Starts the doorbell: a child sharing this process's memory and
 *   descriptors (CLONE_VM | CLONE_FILES) that the calling thread traces. It
 *   polls the table's epoll descriptor and stops (int3) whenever something
 *   in the set is ready, so the tracer, blocked in wait4 for its tracees,
 *   also wakes for descriptors, timers and other threads. It only polls:
 *   the events (one-shot ones included) stay for the tracer to collect.
 *   Table (u64): 0 stack top, 8 epoll fd (unused by the code), 16 a
 *   struct pollfd for the epoll fd, 24 unused, 32 sigset: all blocked,
 *   40 sigset: caller's saved mask.
 *
 * Table layout (all fields u64 unless noted; spawn_table.ts mirrors it):
 *     0 clone flags          8 child stack top (0: keep the stack)
 *    16 errfd (-1: none)    24 number of steps
 *    32 out: failing step   40 out: errno of that step
 *    48 sigset: all blocked 56 sigset: caller's saved mask
 *    64 pidfd (i32, CLONE_PIDFD writes it)
 *    96 steps, 80 bytes each:
 *       0 nr  8..48 a0..a5  56 flags  64 store address  72 expected value
 * Step flags:
 *   bit i (0..5)  argument i := result of the previous step
 *   0x100         a failure is ignored (the result still becomes "previous")
 *   0x200         store the result as u32 at the store address
 *   0x400         store the result as u64 at the store address
 *   0x800         the result must equal the expected value, else the step
 *                 fails with EPROTO (a short read or write)
 *   bit 16+i      argument i := the u64 at address a_i, read when the step
 *                 runs (a value an earlier step stored; the kernel
 *                 truncates int arguments, so a stored u32 works)
 */

        .intel_syntax noprefix
        .text

        .globl  dv_syscall
        .type   dv_syscall, @function
dv_syscall:
        mov     eax, edi
        mov     rdi, rsi
        mov     rsi, rdx
        mov     rdx, rcx
        mov     r10, r8
        mov     r8, r9
        mov     r9, [rsp + 8]
        syscall
        ret
        .size   dv_syscall, . - dv_syscall

        .globl  dv_run
        .type   dv_run, @function
dv_run:
        push    rbx
        push    rbp
        push    r12
        push    r13
        push    r14
        push    r15
        mov     rbx, rdi

        /* rt_sigprocmask(SIG_SETMASK, &all, &old, 8) */
        mov     eax, 14
        mov     edi, 2
        lea     rsi, [rbx + 48]
        lea     rdx, [rbx + 56]
        mov     r10d, 8
        syscall
        test    rax, rax
        js      .Lreturn

        /* clone(flags, stack, &pidfd, NULL, 0) */
        mov     eax, 56
        mov     rdi, [rbx]
        mov     rsi, [rbx + 8]
        lea     rdx, [rbx + 64]
        xor     r10d, r10d
        xor     r8d, r8d
        syscall
        test    rax, rax
        jz      .Lchild
        mov     r12, rax

        /* rt_sigprocmask(SIG_SETMASK, &old, NULL, 8) */
        mov     eax, 14
        mov     edi, 2
        lea     rsi, [rbx + 56]
        xor     edx, edx
        mov     r10d, 8
        syscall
        mov     rax, r12

.Lreturn:
        pop     r15
        pop     r14
        pop     r13
        pop     r12
        pop     rbp
        pop     rbx
        ret

        /* The child: rbx table, r12 step, r13 steps left, r14 previous
         * result, r15 step index, rbp step flags. */
.Lchild:
        lea     r12, [rbx + 96]
        mov     r13, [rbx + 24]
        xor     r14d, r14d
        xor     r15d, r15d
.Lstep:
        test    r13, r13
        jz      .Ldone
        mov     rbp, [r12 + 56]
        mov     rdi, [r12 + 8]
        test    ebp, 0x10000
        jz      1f
        mov     rdi, [rdi]
1:      test    ebp, 1
        cmovnz  rdi, r14
        mov     rsi, [r12 + 16]
        test    ebp, 0x20000
        jz      1f
        mov     rsi, [rsi]
1:      test    ebp, 2
        cmovnz  rsi, r14
        mov     rdx, [r12 + 24]
        test    ebp, 0x40000
        jz      1f
        mov     rdx, [rdx]
1:      test    ebp, 4
        cmovnz  rdx, r14
        mov     r10, [r12 + 32]
        test    ebp, 0x80000
        jz      1f
        mov     r10, [r10]
1:      test    ebp, 8
        cmovnz  r10, r14
        mov     r8, [r12 + 40]
        test    ebp, 0x100000
        jz      1f
        mov     r8, [r8]
1:      test    ebp, 16
        cmovnz  r8, r14
        mov     r9, [r12 + 48]
        test    ebp, 0x200000
        jz      1f
        mov     r9, [r9]
1:      test    ebp, 32
        cmovnz  r9, r14
        mov     rax, [r12]
        syscall
        cmp     rax, -4095
        jae     .Lerror
        test    ebp, 0x800
        jz      .Lstore32
        cmp     rax, [r12 + 72]
        je      .Lstore32
        mov     rax, -71
        jmp     .Lfail
.Lstore32:
        test    ebp, 0x200
        jz      .Lstore64
        mov     rcx, [r12 + 64]
        mov     [rcx], eax
.Lstore64:
        test    ebp, 0x400
        jz      .Lnext
        mov     rcx, [r12 + 64]
        mov     [rcx], rax
.Lnext:
        mov     r14, rax
        add     r12, 80
        inc     r15
        dec     r13
        jmp     .Lstep
.Lerror:
        test    ebp, 0x100
        jnz     .Lnext
.Lfail:
        neg     rax
        mov     [rbx + 32], r15
        mov     [rbx + 40], rax
        mov     rdi, [rbx + 16]
        test    rdi, rdi
        js      .Lexit
        /* write(errfd, &table.out_step, 16) */
        mov     eax, 1
        lea     rsi, [rbx + 32]
        mov     edx, 16
        syscall
.Lexit:
        mov     eax, 231
        mov     edi, 127
        syscall
        hlt
.Ldone:
        mov     eax, 231
        xor     edi, edi
        syscall
        hlt
        .size   dv_run, . - dv_run

        .globl  dv_doorbell
        .type   dv_doorbell, @function
dv_doorbell:
        push    rbx
        push    r12
        mov     rbx, rdi

        /* rt_sigprocmask(SIG_SETMASK, &all, &old, 8): the child starts with
         * every signal blocked, so no handler of the parent runs in it. */
        mov     eax, 14
        mov     edi, 2
        lea     rsi, [rbx + 32]
        lea     rdx, [rbx + 40]
        mov     r10d, 8
        syscall
        test    rax, rax
        js      .Ldb_return

        /* clone(CLONE_VM | CLONE_FILES | SIGCHLD, stack, 0, 0, 0) */
        mov     eax, 56
        mov     edi, 0x511
        mov     rsi, [rbx]
        xor     edx, edx
        xor     r10d, r10d
        xor     r8d, r8d
        syscall
        test    rax, rax
        jz      .Ldb_child
        mov     r12, rax
        mov     eax, 14
        mov     edi, 2
        lea     rsi, [rbx + 40]
        xor     edx, edx
        mov     r10d, 8
        syscall
        mov     rax, r12
.Ldb_return:
        pop     r12
        pop     rbx
        ret

.Ldb_child:
        /* ptrace(PTRACE_TRACEME); kill(getpid(), SIGSTOP) */
        xor     edi, edi
        xor     esi, esi
        xor     edx, edx
        xor     r10d, r10d
        mov     eax, 101
        syscall
        mov     eax, 39
        syscall
        mov     edi, eax
        mov     esi, 19
        mov     eax, 62
        syscall
.Ldb_loop:
        /* poll(&pollfd, 1, -1); int3 */
        mov     rdi, [rbx + 16]
        mov     esi, 1
        mov     rdx, -1
        mov     eax, 7
        syscall
        int3
        jmp     .Ldb_loop
        .size   dv_doorbell, . - dv_doorbell

        .section .note.GNU-stack, "", @progbits
