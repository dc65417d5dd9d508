package quickstart_test

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/trialflow/trialflow/runners"
	"github.com/trialflow/trialflow/runners/local"
	"github.com/trialflow/trialflow/schemas/registry"
	"github.com/trialflow/trialflow/transforms/avroio"
	"github.com/trialflow/trialflow/transforms/deadletter"
	"github.com/trialflow/trialflow/transforms/join"
	"github.com/trialflow/trialflow/transforms/kafkaio"
)

// The reader schemas of the two inputs. Payment.order_id is nullable: a
// payment without an order id cannot be joined and becomes a dead letter.
const (
	orderSchema = `{"type":"record","name":"Order","namespace":"shop","fields":[
	  {"name":"order_id","type":"string"},
	  {"name":"customer","type":"string"},
	  {"name":"cents","type":"long"},
	  {"name":"ordered_at","type":{"type":"long","logicalType":"timestamp-millis"}}]}`
	paymentSchema = `{"type":"record","name":"Payment","namespace":"shop","fields":[
	  {"name":"payment_id","type":"string"},
	  {"name":"order_id","type":["null","string"],"default":null},
	  {"name":"cents","type":"long"},
	  {"name":"paid_at","type":{"type":"long","logicalType":"timestamp-millis"}}]}`
)

// pipeline joins each order with the payments made within 30 minutes
// after it and writes the pairs to the topic "order_payments"; every record
// it cannot handle goes to the topic "dead_letter".
func pipeline(brokers []string, reg registry.Conn) *beam.Pipeline {
	p, s := beam.NewPipelineWithRoot()

	// 1. Read and decode both topics.
	orders, badOrders := avroio.Decode(s, avroio.DecodeConfig{RegistryURL: reg.URL, RegistryAuth: reg.Auth, ReaderSchema: orderSchema},
		kafkaio.Read(s, brokers, []string{"orders"}))
	payments, badPayments := avroio.Decode(s, avroio.DecodeConfig{RegistryURL: reg.URL, RegistryAuth: reg.Auth, ReaderSchema: paymentSchema},
		kafkaio.Read(s, brokers, []string{"payments"}))

	// 2. Key both by order id, with the event time of a field.
	left, noOrderKey := avroio.KeyBy(s, avroio.KeyByConfig{Schema: orderSchema, Field: "order_id", TimeField: "ordered_at"}, orders)
	right, noPaymentKey := avroio.KeyBy(s, avroio.KeyByConfig{Schema: paymentSchema, Field: "order_id", TimeField: "paid_at"}, payments)

	// 3. Join: a payment within [order time, order time + 30 min].
	pairs, late := join.Interval(s, join.Inner, left, right, 0, 30*time.Minute)

	// 4. Turn pairs into Avro records {order, payment}, frame them with
	//    their registered schema id and write them.
	pc := avroio.PairConfig{Name: "shop.OrderPayment", Kind: join.Inner,
		Left: "order", LeftType: orderSchema, Right: "payment", RightType: paymentSchema}
	pairSchema, err := pc.Schema()
	if err != nil {
		panic(err)
	}
	recs, badPairs := avroio.Pairs(s, pc, pairs)
	framed, unencodable := avroio.Encode(s, avroio.EncodeConfig{Topic: "order_payments", Schema: pairSchema,
		RegistryURL: reg.URL, RegistryAuth: reg.Auth, AutoRegister: true}, recs)
	kafkaio.Write(s, brokers, framed)

	// 5. Every rejected record, and every late row, to the dead letters.
	dead := beam.Flatten(s, badOrders, badPayments, noOrderKey, noPaymentKey, badPairs, unencodable,
		join.LateToDeadLetters(s, late, "orders-payments"))
	deadletter.Write(s, deadletter.Sink{Brokers: brokers, RegistryURL: reg.URL, RegistryAuth: reg.Auth, AutoRegister: true}, dead)
	return p
}

// Orders ⋈ payments on the local stack: three orders, six payments (one
// 45 minutes late, one for an unknown order, one without an order id) and
// one record that is not Avro at all.
func Example() {
	beam.Init() // first thing in a main(), after flag.Parse
	ctx := context.Background()
	stack, err := local.Start(ctx, local.Options{Topics: []string{"orders", "payments"}, Partitions: 1})
	if err != nil {
		panic(err)
	}
	defer stack.Close()
	reg := registry.Conn{URL: stack.RegistryURL()} // add Auth for a registry with users
	produceInput(stack.Bootstrap(), reg)

	if _, err := runners.Run(ctx, pipeline(stack.Bootstrap(), reg), runners.WithoutWebUI()); err != nil {
		panic(err)
	}

	printPairs(stack.Bootstrap(), reg, "order_payments")
	printDeadLetters(stack.Bootstrap(), "dead_letter")
	// Output:
	// pairs: 3
	//   o1 + p1, paid 5m0s after the order
	//   o3 + p3, paid 8m0s after the order
	//   o3 + p4, paid 18m0s after the order
	// dead letters: 2
	//   missing_field: 1
	//   wrong_magic_byte: 1
}

var t0 = time.Date(2025, 1, 6, 12, 0, 0, 0, time.UTC)

// produceInput registers the two schemas and produces the example's input.
func produceInput(brokers []string, reg registry.Conn) {
	sr, err := reg.Client(registry.WithAutoRegister(true))
	if err != nil {
		panic(err)
	}
	orderEnc, err := avroio.NewSubjectEncoder(sr, "orders-value", orderSchema)
	if err != nil {
		panic(err)
	}
	paymentEnc, err := avroio.NewSubjectEncoder(sr, "payments-value", paymentSchema)
	if err != nil {
		panic(err)
	}
	var recs []*kgo.Record
	add := func(topic string, enc *avroio.Encoder, at time.Time, v map[string]any) {
		b, err := enc.AppendNative(nil, v)
		if err != nil {
			panic(err)
		}
		recs = append(recs, &kgo.Record{Topic: topic, Timestamp: at, Value: b})
	}
	order := func(id string, at time.Duration) {
		add("orders", orderEnc, t0.Add(at), map[string]any{"order_id": id, "customer": "c-" + id, "cents": int64(1250), "ordered_at": t0.Add(at)})
	}
	payment := func(id string, orderID any, at time.Duration) {
		add("payments", paymentEnc, t0.Add(at), map[string]any{"payment_id": id, "order_id": orderID, "cents": int64(1250), "paid_at": t0.Add(at)})
	}
	order("o1", 0)
	order("o2", time.Minute)
	order("o3", 2*time.Minute)
	payment("p1", map[string]any{"string": "o1"}, 5*time.Minute)
	payment("p2", map[string]any{"string": "o2"}, 46*time.Minute) // 45 min after o2: no pair
	payment("p3", map[string]any{"string": "o3"}, 10*time.Minute)
	payment("p4", map[string]any{"string": "o3"}, 20*time.Minute)
	payment("p5", map[string]any{"string": "o9"}, 20*time.Minute) // no such order: no pair
	payment("p6", nil, 20*time.Minute)                            // no order id: dead letter
	recs = append(recs, &kgo.Record{Topic: "payments", Timestamp: t0, Value: []byte("not avro")})

	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		panic(err)
	}
	defer cl.Close()
	if err := cl.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
		panic(err)
	}
}

// printPairs reads the output topic back and prints the pairs.
func printPairs(brokers []string, reg registry.Conn, topic string) {
	pc := avroio.PairConfig{Name: "shop.OrderPayment", Kind: join.Inner,
		Left: "order", LeftType: orderSchema, Right: "payment", RightType: paymentSchema}
	pairSchema, err := pc.Schema()
	if err != nil {
		panic(err)
	}
	dec, err := avroio.NewRegistryDecoder(reg.URL, pairSchema, avroio.RegistryAuth(reg.Auth))
	if err != nil {
		panic(err)
	}
	var lines []string
	for _, r := range readAll(brokers, topic) {
		v, _, err := dec.DecodeNative(r.Value)
		if err != nil {
			panic(err)
		}
		o, p := v.(map[string]any)["order"].(map[string]any), v.(map[string]any)["payment"].(map[string]any)
		after := p["paid_at"].(time.Time).Sub(o["ordered_at"].(time.Time))
		lines = append(lines, fmt.Sprintf("  %s + %s, paid %v after the order", o["order_id"], p["payment_id"], after))
	}
	sort.Strings(lines)
	fmt.Println("pairs:", len(lines))
	fmt.Println(strings.Join(lines, "\n"))
}

// printDeadLetters counts the dead letters by their reason_code header.
func printDeadLetters(brokers []string, topic string) {
	recs := readAll(brokers, topic)
	byCode := map[string]int{}
	for _, r := range recs {
		for _, h := range r.Headers {
			if h.Key == "reason_code" {
				byCode[string(h.Value)]++
			}
		}
	}
	codes := make([]string, 0, len(byCode))
	for c := range byCode {
		codes = append(codes, c)
	}
	sort.Strings(codes)
	fmt.Println("dead letters:", len(recs))
	for _, c := range codes {
		fmt.Printf("  %s: %d\n", c, byCode[c])
	}
}

// readAll reads topic from its start to its end offsets.
func readAll(brokers []string, topic string) []*kgo.Record {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		panic(err)
	}
	defer cl.Close()
	ends, err := kadm.NewClient(cl).ListEndOffsets(ctx, topic)
	if err != nil {
		panic(err)
	}
	var want int64
	ends.Each(func(o kadm.ListedOffset) { want += o.Offset })
	var out []*kgo.Record
	for int64(len(out)) < want {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			panic(fmt.Sprintf("read %s: %d of %d records: %v", topic, len(out), want, err))
		}
		fs.EachRecord(func(r *kgo.Record) { out = append(out, r) })
	}
	return out
}
