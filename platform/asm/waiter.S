/*
 * The waiter: the host process that stands for a process in the sandbox
 * (one `exec --detach` started, or a pod container's init), whose pid
 * containerd's shim or conmon is given. It ends as that process does, and
 * what is done to it is done to that process:
 *
 *   fd 3  a stream socket whose other end the sandbox holds (its Watch
 *         method). One byte from it is the exit code: the waiter exits
 *         with it. End of file: the sandbox is gone; exit 137 (its
 *         processes were killed with it). Each signal the waiter gets is
 *         sent the other way as one byte, its number, for the sandbox to
 *         deliver; SIGKILL, which no process can catch, ends the waiter,
 *         and the sandbox takes the end of file for it.
 *   fd 4  a signalfd for every signal; its spawner blocked them all.
 *
 * No libc, no memory but its stack. The spawner confines it to read,
 * poll, sendto and exit_group (see cli/waiter.ts).
 */

        .intel_syntax noprefix

        .set    SYS_read, 0
        .set    SYS_poll, 7
        .set    SYS_sendto, 44
        .set    SYS_exit_group, 231
        .set    WATCH_FD, 3
        .set    SIGNAL_FD, 4
        .set    POLLIN, 0x1
        .set    POLL_ENDED, 0x39        /* POLLIN | POLLERR | POLLHUP | POLLNVAL */
        .set    MSG_NOSIGNAL, 0x4000
        .set    SIGINFO_SIZE, 128
        .set    EXIT_SANDBOX_GONE, 137

        .text
        .globl  _start
_start:
        /* struct pollfd fds[2] at [rsp], a signalfd_siginfo at [rsp + 16] */
        sub     rsp, 16 + SIGINFO_SIZE
        mov     dword ptr [rsp], WATCH_FD
        mov     dword ptr [rsp + 4], POLLIN
        mov     dword ptr [rsp + 8], SIGNAL_FD
        mov     dword ptr [rsp + 12], POLLIN
.Lwait:
        mov     eax, SYS_poll
        mov     rdi, rsp
        mov     esi, 2
        mov     edx, -1
        syscall
        cmp     rax, -4                 /* EINTR: stopped, then continued */
        je      .Lwait
        mov     edi, EXIT_SANDBOX_GONE
        test    rax, rax
        js      .Lexit
        /* The sandbox first: an exit code ends everything. */
        movzx   eax, word ptr [rsp + 6]
        test    eax, POLL_ENDED
        jnz     .Lwatch
        movzx   eax, word ptr [rsp + 14]
        test    eax, POLLIN
        jz      .Lwait
        mov     eax, SYS_read
        mov     edi, SIGNAL_FD
        lea     rsi, [rsp + 16]
        mov     edx, SIGINFO_SIZE
        syscall
        cmp     rax, SIGINFO_SIZE
        jne     .Lwait                  /* EAGAIN: taken already */
        /* sendto(WATCH_FD, &ssi_signo's low byte, 1, MSG_NOSIGNAL, 0, 0) */
        mov     eax, SYS_sendto
        mov     edi, WATCH_FD
        lea     rsi, [rsp + 16]
        mov     edx, 1
        mov     r10d, MSG_NOSIGNAL
        xor     r8d, r8d
        xor     r9d, r9d
        syscall
        jmp     .Lwait                  /* a failure: the sandbox is gone, poll says so */
.Lwatch:
        mov     eax, SYS_read
        mov     edi, WATCH_FD
        lea     rsi, [rsp + 16]
        mov     edx, 1
        syscall
        cmp     rax, -4                 /* EINTR */
        je      .Lwatch
        mov     edi, EXIT_SANDBOX_GONE
        cmp     rax, 1
        jne     .Lexit
        movzx   edi, byte ptr [rsp + 16]
.Lexit:
        mov     eax, SYS_exit_group
        syscall
        hlt

        .section .note.GNU-stack, "", @progbits
