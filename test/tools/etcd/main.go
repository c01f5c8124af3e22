// Command etcd is the real etcd server, built from go.etcd.io/etcd/server/v3 for
// certrescue's end-to-end tests. It lives in its own module, out of the product's go.mod.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
