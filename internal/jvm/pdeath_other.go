//go:build unix && !linux

package jvm

import "syscall"

func setParentDeathSignal(*syscall.SysProcAttr) {}
