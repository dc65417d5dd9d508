# trialflow — build, test, measure.
# `make demo` and `make test` are the two commands a fresh machine needs.

GO        ?= go
PKGS      ?= ./...
TESTFLAGS ?= -timeout 25m
FUZZTIME  ?= 10s
BENCHTIME ?= 1x
BENCH     ?= .

.PHONY: all build test lint vet fmt bench fuzz demo clean soak test-flink test-kafka

all: build

build:
	$(GO) build $(PKGS)

# What CI runs (.ci/run): formatting and vet, then every test.
test: lint
	$(GO) test $(TESTFLAGS) $(PKGS)

# On Beam's Flink job server with an embedded Flink (runners/flink), each
# pipeline's output compared with Prism's: the job server's sockets
# (loopback only), join.Window and join.TemporalTable, join.Interval,
# join.Temporal, join.Replicate and join.Broadcast from beam.Create (on-time results; no
# TestStream), Nexmark Q3/Q8, the
# bounded trialmatch pipeline over the demo-sized data set, the streaming
# one's refusal, the ingest pipeline, and kafkaio's bounded Read and its
# Write, plain and Transactional, over kfake (TestKafkaioOnFlink). Needs a JDK 17+ (java, javac) and
# mvn; the jars come through mvn into ~/.m2 on first use.
# TRIALFLOW_FLINK_PARALLELISM=2 for parallelism 2. Left out, as their
# output differs from Prism's on Flink (docs/runners.md, "What runs where"):
# TestFlinkIntervalJoin, TestFlinkTemporalJoin and TestFlinkBroadcastAndReplicate
# (TestStream input). join.Broadcast runs on Flink since its shard rows have a
# coder of their own (TestFlinkBroadcastBounded).
FLINK_PKGS ?= ./runners/flink/... ./transforms/join/ ./pipelines/nexmark/
FLINK_RUN ?= ^Test(Smoke|JobServerListensOnLoopbackOnly|FlinkWindowJoin|FlinkTemporalTable|FlinkIntervalJoinBounded|FlinkTemporalJoinBounded|FlinkReplicate|FlinkBroadcastBounded|FlinkQ3Q8|TrialmatchBoundedOnFlink|TrialmatchStreamingRefusedOnFlink|IngestOnFlink|KafkaioOnFlink)$$
test-flink:
	$(GO) test -tags flink -count=1 -timeout 30m -p 1 -run '$(FLINK_RUN)' $(FLINK_PKGS)

# Every kafkaio test on a real Apache Kafka 4.x broker in KRaft mode
# (runners/apachekafka) instead of kfake, with the broker's sockets checked
# (loopback only), then the trialmatch pipeline over Kafka
# (TestPipelineOverKafka: runners/local with the broker as Options.Brokers,
# the registry embedded). Needs java 17+ and mvn. KAFKA_SKIP skips tests by
# name (none by default).
KAFKA_TESTS ?= .
KAFKA_SKIP ?=
KAFKA_PIPELINE_TESTS ?= ^TestPipelineOverKafka$$
test-kafka:
	TRIALFLOW_KAFKA=apache $(GO) test -count=1 -timeout 20m -run '$(KAFKA_TESTS)' -skip '$(KAFKA_SKIP)' ./transforms/kafkaio/
	TRIALFLOW_KAFKA=apache $(GO) test -count=1 -timeout 20m -run '$(KAFKA_PIPELINE_TESTS)' ./pipelines/trialmatch/

lint: fmt vet

fmt:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet $(PKGS)

# Every benchmark, beside the code and under bench/, each with its baseline in
# the same run. BENCHTIME=5s for figures worth recording in bench/RESULTS.md.
bench:
	$(GO) test -run '^$$' -bench '$(BENCH)' -benchmem -benchtime $(BENCHTIME) $(PKGS)

# Short runs of every fuzz target (FUZZTIME each).
fuzz:
	@set -e; for pkg in $$($(GO) list $(PKGS)); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz' || true); do \
	    echo "== $$pkg $$f ($(FUZZTIME))"; \
	    $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg; \
	  done; \
	done

# The embedded default: in-process Prism, embedded Kafka and Schema Registry.
demo:
	$(GO) run ./cmd/trialflow demo

clean:
	$(GO) clean -testcache
	rm -rf out/ bench/*.prof bench/*.test

# Fault tests of durable streaming (issue 15): 10 SIGKILLs of the streaming job, broker and
# registry outages, bounded re-runs, against an uninterrupted run. `make test` runs 3 kills.
.PHONY: test-faults
test-faults:
	TRIALFLOW_FAULTS=full $(GO) test -timeout 60m -count 1 -v -run 'TestFault' ./cmd/trialflow/
