package main

import "os"

// askToStop ends the process: Windows has no SIGTERM to send a console
// program; os.Process.Kill is TerminateProcess.
func askToStop(p *os.Process) { _ = p.Kill() }
