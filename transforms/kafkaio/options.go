package kafkaio

import "time"

// ReadOption configures Read.
type ReadOption interface{ applyRead(*readConfig) }

type readOpt func(*readConfig)

func (f readOpt) applyRead(c *readConfig) { f(c) }

// StartKind says where Read starts in each partition.
type StartKind int

// Start positions.
const (
	Earliest  StartKind = iota // the first offset still in the log
	Latest                     // the end offset when reading starts
	Committed                  // the consumer group's committed offset, else earliest
	AtTime                     // the first offset whose timestamp is at or after a time
)

type readConfig struct {
	conn           Conn
	start          StartKind
	startMillis    int64
	group          string
	unbounded      bool
	readCommitted  bool
	processingTime bool
	idleTimeout    time.Duration
	pollWait       time.Duration
	checkpointEach time.Duration
	discoverEach   time.Duration
	batch          int
}

func defaultReadConfig(brokers []string) readConfig {
	return readConfig{
		conn:           Conn{Brokers: brokers},
		idleTimeout:    10 * time.Second,
		pollWait:       250 * time.Millisecond,
		checkpointEach: 2 * time.Second,
		discoverEach:   5 * time.Second,
	}
}

// StartEarliest starts at the first offset still in each partition (the default).
func StartEarliest() ReadOption { return readOpt(func(c *readConfig) { c.start = Earliest }) }

// StartLatest starts at each partition's end offset when reading starts.
func StartLatest() ReadOption { return readOpt(func(c *readConfig) { c.start = Latest }) }

// StartCommitted starts at the offsets committed by the consumer group
// (Group is required); partitions without a committed offset start at the
// earliest offset.
func StartCommitted() ReadOption { return readOpt(func(c *readConfig) { c.start = Committed }) }

// StartAt starts at the first offset whose timestamp is at or after t (the
// end offset when there is none).
func StartAt(t time.Time) ReadOption {
	return readOpt(func(c *readConfig) { c.start, c.startMillis = AtTime, t.UnixMilli() })
}

// Group names the consumer group StartCommitted resumes from. Read never
// commits: Commit does, once what the records caused is written.
func Group(id string) ReadOption { return readOpt(func(c *readConfig) { c.group = id }) }

// Unbounded reads forever: each partition is polled with
// sdf.ProcessContinuation and new partitions are picked up.
func Unbounded() ReadOption { return readOpt(func(c *readConfig) { c.unbounded = true }) }

// ReadCommittedOnly reads only committed transactional records (Kafka
// isolation level read_committed); bounded reads then stop at the last
// stable offset.
func ReadCommittedOnly() ReadOption { return readOpt(func(c *readConfig) { c.readCommitted = true }) }

// WithProcessingTime stamps elements with the time they were read instead
// of the Kafka record timestamp.
func WithProcessingTime() ReadOption { return readOpt(func(c *readConfig) { c.processingTime = true }) }

// IdleTimeout is how long a caught-up partition with no new records waits
// before its watermark follows the wall clock (minus the timeout), so one
// quiet partition does not hold the watermark forever (default 10s).
func IdleTimeout(d time.Duration) ReadOption {
	return readOpt(func(c *readConfig) { c.idleTimeout = d })
}

// PollWait bounds each fetch from a partition (default 250ms).
func PollWait(d time.Duration) ReadOption { return readOpt(func(c *readConfig) { c.pollWait = d }) }

// CheckpointEvery is how long an unbounded read keeps one partition before
// handing back a residual (default 2s).
func CheckpointEvery(d time.Duration) ReadOption {
	return readOpt(func(c *readConfig) { c.checkpointEach = d })
}

// DiscoverEvery is how often an unbounded read looks for new partitions
// (default 5s).
func DiscoverEvery(d time.Duration) ReadOption {
	return readOpt(func(c *readConfig) { c.discoverEach = d })
}

// WriteOption configures Write.
type WriteOption interface{ applyWrite(*writeConfig) }

type writeOpt func(*writeConfig)

func (f writeOpt) applyWrite(c *writeConfig) { f(c) }

type writeConfig struct {
	conn          Conn
	topic         string
	transactional string
	keepPartition bool
	linger        time.Duration
	compression   string
}

// ToTopic writes every record to topic, whatever its Topic says: records
// read from Kafka, which carry the topic they were read from, are copied to
// topic as they are. Without ToTopic each record goes to its own Topic (to
// spread records over several topics, set Topic and leave ToTopic out).
func ToTopic(topic string) WriteOption { return writeOpt(func(c *writeConfig) { c.topic = topic }) }

// Transactional makes each bundle one Kafka transaction, with transactional
// ids "<prefix>-<random>" (one per worker DoFn instance). Readers see a
// bundle's records only once it commits when they read with
// ReadCommittedOnly. A bundle the runner retries after its transaction
// committed is written again: delivery stays at-least-once.
func Transactional(prefix string) WriteOption {
	return writeOpt(func(c *writeConfig) { c.transactional = prefix })
}

// KeepPartition writes each record whose Partition is 0 or more to that
// partition number (which must exist in the topic written to) and
// partitions the others by key. Without it, Write partitions every record
// by key and ignores Partition, so records read from one topic and written
// to another are spread by key as a Kafka producer would.
func KeepPartition() WriteOption { return writeOpt(func(c *writeConfig) { c.keepPartition = true }) }

// Linger lets the producer wait up to d to fill batches (default 0).
func Linger(d time.Duration) WriteOption { return writeOpt(func(c *writeConfig) { c.linger = d }) }

// Compression compresses the produced record batches with codec, one of
// CompressionNone (the default), CompressionGzip, CompressionSnappy,
// CompressionLZ4 or CompressionZstd; it overrides the Compression of a
// WithConn given before or after it. Every mainstream client reads none and
// gzip; the package doc says which read the others.
func Compression(codec string) WriteOption {
	return writeOpt(func(c *writeConfig) { c.compression = codec })
}
