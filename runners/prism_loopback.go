package runners

import (
	"context"
	"flag"
	"fmt"
	"net"
	"strconv"
	_ "unsafe" // go:linkname

	jobpb "github.com/apache/beam/sdks/v2/go/pkg/beam/model/jobmanagement_v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	// The packages whose functions are linked below.
	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/runners/prism"
)

// PrismHost is the address Run's in-process Prism job server listens on
// (--prism_host; default loopback). The job server has no authentication:
// whoever reaches it can submit jobs, which run code as this process.
var PrismHost = flag.String("prism_host", "127.0.0.1",
	"address of the in-process Prism job server (unauthenticated gRPC: keep it on loopback)")

// Prism v2.77.0's job server listens on every interface (":PORT", in
// internal/jobservices.NewServer) and its package is internal, so neither
// prism.CreateJobServer nor prism.Execute can be told to listen on loopback.
// startPrismJobServer builds the same server through the internal functions
// (linked by name), swaps its not yet served listener for one on host and
// the same port, and serves. The port must stay the same: the server hands
// it to workers as "localhost:PORT". TestPrismListensOnLoopbackOnly checks
// the result with the process's socket list, so a Beam upgrade that changes
// the server's layout fails there.

// prismServer mirrors the start of jobservices.Server: four embedded empty
// Unimplemented*Server structs (size 0), then lis net.Listener.
type prismServer struct {
	lis net.Listener
}

type prismJob struct{}

//go:linkname prismNewServer github.com/apache/beam/sdks/v2/go/pkg/beam/runners/prism/internal/jobservices.NewServer
func prismNewServer(port int, execute func(*prismJob)) *prismServer

//go:linkname prismServe github.com/apache/beam/sdks/v2/go/pkg/beam/runners/prism/internal/jobservices.(*Server).Serve
func prismServe(s *prismServer)

//go:linkname prismRunPipeline github.com/apache/beam/sdks/v2/go/pkg/beam/runners/prism/internal.RunPipeline
func prismRunPipeline(j *prismJob)

// startPrismJobServer starts Prism's job server on host and returns its
// endpoint ("localhost:PORT" when host is a loopback address) and a client.
func startPrismJobServer(ctx context.Context, host string) (string, jobpb.JobServiceClient, error) {
	var lastErr error
	for attempt := 0; attempt < 5; attempt++ {
		s := prismNewServer(0, prismRunPipeline)
		tcp, ok := s.lis.Addr().(*net.TCPAddr)
		if !ok {
			return "", nil, fmt.Errorf("runners: prism job server: unexpected listener %T (Beam's layout changed?)", s.lis)
		}
		port := strconv.Itoa(tcp.Port)
		_ = s.lis.Close() // the wildcard listener, never served
		lis, err := net.Listen("tcp", net.JoinHostPort(host, port))
		if err != nil {
			lastErr = err // the freed port was taken meanwhile: try another
			continue
		}
		s.lis = lis
		go prismServe(s)
		endpoint := net.JoinHostPort(host, port)
		if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
			endpoint = "localhost:" + port
		}
		conn, err := grpc.NewClient(endpoint, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			lis.Close()
			return "", nil, fmt.Errorf("runners: prism job server client: %w", err)
		}
		go func() { <-ctx.Done(); conn.Close() }()
		return endpoint, jobpb.NewJobServiceClient(conn), nil
	}
	return "", nil, fmt.Errorf("runners: prism job server on %s: %w", host, lastErr)
}
