package main

import (
	"context"
	"flag"
	"fmt"

	"github.com/trialflow/trialflow/schemas/registry"
)

func init() {
	register(command{
		name:    "registry serve",
		summary: "serve the embedded Confluent-compatible Schema Registry",
		run:     registryServe,
	})
}

func registryServe(ctx context.Context, fs *flag.FlagSet, args []string) error {
	addr := fs.String("addr", "127.0.0.1:8081", "listen address")
	data := fs.String("data", "", "data directory for the append-only schema log (empty: in memory, lost on exit)")
	sec := addServerSecurityFlags(fs, "")
	if err := fs.Parse(args); err != nil {
		return err
	}
	opts, err := sec.options(*data)
	if err != nil {
		return err
	}
	url, srv, err := registry.StartServer(*addr, *data, opts...)
	if err != nil {
		return err
	}
	defer srv.Close()
	where := *data
	if where == "" {
		where = "memory only"
	}
	fmt.Printf("Schema Registry listening on %s (data: %s); Ctrl-C to stop\n", url, where)
	<-ctx.Done()
	fmt.Println("Schema Registry stopping")
	return nil
}
