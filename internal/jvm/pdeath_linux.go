package jvm

import "syscall"

// setParentDeathSignal kills the java process when the Go process that
// started it dies without calling Stop (a test binary killed by its
// timeout, for example), so no JVM outlives its test.
func setParentDeathSignal(a *syscall.SysProcAttr) { a.Pdeathsig = syscall.SIGKILL }
