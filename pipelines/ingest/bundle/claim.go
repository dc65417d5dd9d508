package bundle

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/trialflow/trialflow/pipelines/ingest/envelope"
)

// Topic is the Kafka topic of claim checks.
const Topic = "emr_bundles"

// ErrBadClaim: a claim check that does not parse or misses a field.
var ErrBadClaim = errors.New("invalid claim check")

// ClaimCheck references one sealed bundle in object storage. On the
// emr_bundles topic it is the record value as JSON (the record key is the
// tenant), e.g.
//
//	{"uri":"file:///var/bundles/p1/3f2a...e1.tfe","size":5321,"sha256":"3f2a...e1",
//	 "key_id":"kek-2026","tenant":"p1","compression":"zstd"}
type ClaimCheck struct {
	URI         string `json:"uri"`         // object URI inside a configured bucket
	Size        int64  `json:"size"`        // size of the sealed object in bytes
	SHA256      string `json:"sha256"`      // hex SHA-256 of the sealed object
	KeyID       string `json:"key_id"`      // KEK that wraps the data key
	Tenant      string `json:"tenant"`      // practice that owns the bundle
	Compression string `json:"compression"` // none, gzip or zstd (inside the envelope)

	// Where the claim check was read from (not part of the JSON).
	Topic     string `json:"-"`
	Partition int32  `json:"-"`
	Offset    int64  `json:"-"` // -1 when not read from Kafka
}

// MaxClaimBytes bounds a claim check record.
const MaxClaimBytes = 8 << 10

// Marshal encodes the claim check as JSON.
func (c ClaimCheck) Marshal() ([]byte, error) {
	b, err := json.Marshal(c)
	if err != nil {
		return nil, fmt.Errorf("bundle: claim check: %w", err)
	}
	return b, nil
}

// ParseClaimCheck decodes and validates a JSON claim check.
func ParseClaimCheck(b []byte) (ClaimCheck, error) {
	var c ClaimCheck
	if len(b) > MaxClaimBytes {
		return c, fmt.Errorf("bundle: claim check of %d bytes exceeds %d: %w", len(b), MaxClaimBytes, ErrBadClaim)
	}
	if err := json.Unmarshal(b, &c); err != nil {
		return c, fmt.Errorf("bundle: claim check: %w: %v", ErrBadClaim, err)
	}
	c.Offset = -1
	return c, c.Validate()
}

// Validate checks that every field is present and well formed.
func (c ClaimCheck) Validate() error {
	switch {
	case c.URI == "":
		return fmt.Errorf("bundle: claim check: no uri: %w", ErrBadClaim)
	case c.Tenant == "":
		return fmt.Errorf("bundle: claim check: no tenant: %w", ErrBadClaim)
	case c.KeyID == "":
		return fmt.Errorf("bundle: claim check: no key_id: %w", ErrBadClaim)
	case c.Size <= 0:
		return fmt.Errorf("bundle: claim check: size %d: %w", c.Size, ErrBadClaim)
	}
	if h, err := hex.DecodeString(c.SHA256); err != nil || len(h) != 32 {
		return fmt.Errorf("bundle: claim check: sha256 is not 64 hex digits: %w", ErrBadClaim)
	}
	switch envelope.Compression(c.Compression) {
	case envelope.None, envelope.Gzip, envelope.Zstd, "":
	default:
		return fmt.Errorf("bundle: claim check: compression is not none, gzip or zstd: %w", ErrBadClaim)
	}
	return nil
}
