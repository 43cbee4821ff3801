package cookie

import "testing"

// TestSipHash24 checks the reference vectors of the SipHash paper
// (Appendix A: key 00 01 .. 0f, message 00 01 .. n-1) for the lengths that
// exercise every path: empty, a partial last word, exactly one word, more.
func TestSipHash24(t *testing.T) {
	var k [16]byte
	for i := range k {
		k[i] = byte(i)
	}
	msg := make([]byte, 64)
	for i := range msg {
		msg[i] = byte(i)
	}
	for _, v := range []struct {
		n    int
		want uint64
	}{
		{0, 0x726fdb47dd0e0e31},
		{1, 0x74f839c593dc67fd},
		{7, 0xab0200f58b01d137},
		{8, 0x93f5f5799a932462},
		{15, 0xa129ca6149be45e5},
		{63, 0x958a324ceb064572},
	} {
		if got := sipHash24(&k, msg[:v.n]); got != v.want {
			t.Errorf("SipHash-2-4 of %d octets: %016x, want %016x", v.n, got, v.want)
		}
	}
}
