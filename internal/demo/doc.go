// Package demo builds the sandbox node `certrescue demo` rescues: a kubeadm
// control-plane node under a temporary directory, with the three CAs valid for
// years and every leaf certificate and kubeconfig expired, the kubelet's
// rotated client certificate behind its symlink, static pod manifests, and,
// optionally, admin.conf pointed at the API server's certificate by the field
// guide's sed line.
//
// Inputs: a directory and Options (now comes from the caller). Output: files
// under the directory, written 0600 for keys and kubeconfigs. It needs no
// privileges and no network. It is product code, not a test helper: the
// command layer runs check, rescue and check again on the sandbox.
package demo
