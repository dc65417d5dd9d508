// Package wire implements the Confluent Schema Registry wire format: a magic
// byte 0, the schema id as a 4-byte big-endian integer, then the payload.
//
// Encoding is append-style and decoding returns a sub-slice of the input, so
// neither allocates on the hot path.
package wire
