package main

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
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
		"registered patient_facts-value",
		"accepted under BACKWARD",
		`refused (409)`, `field "tenant"`,
		"all 5 schemas readable by id",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("demo output lacks %q:\n%s", want, out.String())
		}
	}
}
