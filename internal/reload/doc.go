// Package reload says which renewed credentials each control-plane component
// takes up by itself, without a restart, and how soon: the table of
// docs/reload.md as data (Table), measured on the real components named in
// Measured by the tests of test/reload, which keep it true when the versions
// change.
//
// Decide turns a renewal into the restarts it needs: for each renewed file and
// each component that uses it, the flags of the component (as the node's
// inventory found them: static pod manifest, systemd unit, environment file)
// that name the file are looked up in the table. A component whose every
// renewed file is named by flags it reloads is not restarted: its credential is
// deployed and then gated on the component using it (Take.Proof). Anything
// else (a flag the table does not know, a file no flag names, a kubeconfig
// with embedded data, a component the inventory did not find) restarts it, in
// layout.RestartOrder, with the reason.
//
// It is pure: no IO, no clock. Inputs: the renewal's items (role, components,
// node paths) and the inventory's components. Output: a Decision.
package reload
