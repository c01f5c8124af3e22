package health

import (
	"net"

	"github.com/certrescue/certrescue/internal/inventory"
)

// LocalAPIServer is the URL the API server c serves on this node (its
// --bind-address or --advertise-address and --secure-port, as its gates
// probe it), never the load balancer a kubeconfig names.
func LocalAPIServer(c inventory.Component) string {
	host, port, _ := apiserverAddr(c)
	return "https://" + net.JoinHostPort(host, port)
}
