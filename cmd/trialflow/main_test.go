package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
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

// A command's help lists its own flags first, then the global ones under
// their own heading (issue 20: stack up's 4 flags were buried among Beam's).
func TestCommandUsageListsOwnFlagsFirst(t *testing.T) {
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	fs.String("runner", "prism", "Beam runner")
	fs.Bool("async", false, "do not wait")
	global := map[string]bool{"runner": true, "async": true}
	fs.String("data", "", "keep state in this directory")
	fs.Int("kafka-port", 9092, "Kafka port")
	var b strings.Builder
	commandUsage(&b, fs, "stack up", "run the stack", global)
	out := b.String()
	data, port := strings.Index(out, "-data"), strings.Index(out, "-kafka-port")
	head, runner := strings.Index(out, "global flags (2"), strings.Index(out, "-runner")
	if data < 0 || port < 0 || head < 0 || runner < 0 || !(data < head && port < head && head < runner) {
		t.Fatalf("own flags, then the heading, then the global flags expected:\n%s", out)
	}
	if !strings.Contains(out, `(default 9092)`) || !strings.Contains(out, `(default "prism")`) {
		t.Errorf("defaults missing:\n%s", out)
	}
}

// `trialflow stack up -h` through dispatch, on the real global flag set:
// stack up's own flags (--topic among them) come before the heading of
// the global ones, and Beam's --runner after it.
func TestStackUpHelpShowsOwnFlagsFirst(t *testing.T) {
	saved := flag.CommandLine
	defer func() { flag.CommandLine = saved }()
	fs := flag.NewFlagSet("trialflow", flag.ContinueOnError)
	saved.VisitAll(func(f *flag.Flag) { fs.Var(f.Value, f.Name, f.Usage) })
	var out bytes.Buffer
	fs.SetOutput(&out)
	flag.CommandLine = fs

	err := dispatch(context.Background(), []string{"stack", "up", "-h"}, &out)
	if !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("err = %v, want flag.ErrHelp", err)
	}
	text := out.String()
	head := strings.Index(text, "global flags (")
	runner := strings.Index(text, "\n  -runner")
	if head < 0 || runner < head {
		t.Fatalf("no global heading before -runner:\n%s", text)
	}
	for _, own := range []string{"-kafka-port", "-registry-addr", "-data", "-register", "-topic name:partitions"} {
		if i := strings.Index(text, "\n  "+own); i < 0 || i > head {
			t.Errorf("%s missing or after the global heading", own)
		}
	}
	if !strings.HasPrefix(text, "trialflow stack up: ") {
		t.Errorf("help does not start with the command and its summary:\n%.200s", text)
	}
}

func TestTopicPartitionsFlag(t *testing.T) {
	tp := topicPartitions{}
	for _, v := range []string{"orders:6", "payments:1"} {
		if err := tp.Set(v); err != nil {
			t.Fatal(err)
		}
	}
	if tp.String() != "orders:6,payments:1" {
		t.Errorf("String() = %q", tp.String())
	}
	for _, bad := range []string{"orders", "orders:0", ":3", "orders:x"} {
		if err := tp.Set(bad); err == nil {
			t.Errorf("Set(%q) accepted", bad)
		}
	}
}
