package main

import "os"

// reloadSignals: Windows has no SIGHUP; the file watcher and POST
// /admin/reload reload the config.
func reloadSignals() []os.Signal { return nil }
