package main

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestDispatchUnknownCommand(t *testing.T) {
	var out bytes.Buffer
	err := dispatch(context.Background(), []string{"nope"}, &out)
	if !errors.Is(err, errUsage) || !strings.Contains(err.Error(), `unknown command "nope"`) {
		t.Fatalf("err = %v", err)
	}
	if !strings.Contains(out.String(), "registry serve") {
		t.Fatalf("usage does not list commands:\n%s", out.String())
	}
	out.Reset()
	if err := dispatch(context.Background(), []string{"help"}, &out); err != nil {
		t.Fatal(err)
	}
}

func TestIsWorker(t *testing.T) {
	if !isWorker([]string{"--worker=true", "--id=1"}) || isWorker([]string{"demo"}) {
		t.Fatal("isWorker misreads arguments")
	}
}

func TestRegistryDemo(t *testing.T) {
	var out bytes.Buffer
	if err := registryDemo(&out, t.TempDir()); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"registered the 5 data contracts",
		"accepted under BACKWARD",
		`refused (409)`, `field "tenant"`,
		"all 5 schemas readable by id",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("demo output lacks %q:\n%s", want, out.String())
		}
	}
}

// The demo end to end on a small data set: local stack, Kafka, Prism.
func TestDemoSmall(t *testing.T) {
	var out bytes.Buffer
	o := demoOptions{Patients: 300, Tenants: 3, Trials: 6, Shards: 4, Tick: 10 * time.Minute, Corrupt: 3, Seed: 7, Out: t.TempDir()}
	if err := runDemo(context.Background(), &out, o); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	for _, want := range []string{
		"local stack: Kafka (kfake, real protocol)",
		"Prism web UI: http://localhost:",
		"pipeline finished in",
		"active matches per trial and tenant",
		"practice-03",
		"dead letters: 3",
		"wrong_magic_byte",
		"approved_patients.practice-01",
		"pipeline metrics by stage",
		"Parquet files, by tenant and date",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("demo output lacks %q:\n%s", want, out.String())
		}
	}
}
