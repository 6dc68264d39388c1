// The one program of the local node's container image (scripts/lib/kubernetes.ts builds it into
// an OCI image and imports it into the node's containerd; no registry is reachable). Without
// arguments it is the pod sandbox's pause process: it waits for SIGTERM or SIGINT. With arguments
// it prints them and exits 0, so a Job's pod can run it to completion.
package main

import (
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	if len(os.Args) == 1 {
		stop := make(chan os.Signal, 1)
		signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
		<-stop
		return
	}
	fmt.Println(os.Args[1:])
}
