package config

// Metrics configures GET /metrics (gateway.metrics).
type Metrics struct {
	// RequireAuth puts /metrics behind the same authentication as /mcp.
	RequireAuth bool `json:"require_auth,omitempty"`
}

// Audit configures the audit log: one line per tool call (gateway.audit).
type Audit struct {
	// Disabled turns the audit log off.
	Disabled bool `json:"disabled,omitempty"`
	// File is where audit lines go (JSON lines, appended); empty means the
	// gateway's log (stderr).
	File string `json:"file,omitempty"`
	// IncludeArguments records tool arguments in full. By default only their
	// size and SHA-256 are recorded: arguments may carry secrets.
	IncludeArguments bool `json:"include_arguments,omitempty"`
}

func validateAudit(errs *errorList, a *Audit) {
	if a.File != "" {
		noNUL(errs, "gateway.audit.file", a.File)
	}
}
