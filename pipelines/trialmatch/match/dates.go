package match

import (
	"math"
	"time"
)

// Dates are int32 days since 1970-01-01, as Avro's date and Arrow's date32.

func epochDay(d int32) time.Time { return time.Unix(int64(d)*86400, 0).UTC() }

// Day returns the day number of t's UTC date.
func Day(t time.Time) int32 {
	y, m, d := t.UTC().Date()
	return dayOf(y, int(m), d)
}

func dayOf(y, m, d int) int32 {
	return int32(time.Date(y, time.Month(m), d, 0, 0, 0, 0, time.UTC).Unix() / 86400)
}

func daysIn(y, m int) int {
	return time.Date(y, time.Month(m)+1, 0, 0, 0, 0, 0, time.UTC).Day()
}

func roundHalfEven(x float64) float64 { return math.RoundToEven(x) }
