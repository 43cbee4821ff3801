package tsigauth

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/coredns/caddy"
	"github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/plugin"

	"github.com/dnspki/dnspki/plugin/pkg/tsigkey"
)

// Block is the TSIG trust of one server block: the keys its dnspki plugins
// define (a key is valid in the block that defines it and nowhere else),
// the memory of accepted MACs (replays), and the gate that decides about
// every request of the block before any plugin acts on it.
type Block struct {
	// Ring holds the block's keys, each bound to its algorithm.
	Ring   *tsigkey.Ring
	cfg    *dnsserver.Config
	replay *replayMemory
	// foreign: the block has the stock tsig plugin, whose keys are not
	// dnspki's; a request signed with one passes the gate undecided
	// (Identity.Foreign) for that plugin to check.
	foreign bool
	// definedBy: which plugin (and where) defined each key, for messages.
	definedBy map[string]string
}

type registryKey struct{}

// registry is every Block of one configuration (caddy instance).
type registry struct {
	blocks map[*dnsserver.Config]*Block
	order  []*Block
}

// ForBlock returns the TSIG trust of c's server block. The first call for a
// block creates it and puts its gate first in the block's plugin chain, so
// that nothing (stock plugins included) acts on a request before the gate
// has refused a malformed one and decided who signed it.
func ForBlock(c *caddy.Controller) *Block {
	cfg := dnsserver.GetConfig(c)
	reg, _ := c.Get(registryKey{}).(*registry)
	if reg == nil {
		reg = &registry{blocks: map[*dnsserver.Config]*Block{}}
		c.Set(registryKey{}, reg)
		c.OnStartup(reg.checkListeners)
	}
	if b := reg.blocks[cfg]; b != nil {
		return b
	}
	b := newBlock(cfg)
	reg.blocks[cfg] = b
	reg.order = append(reg.order, b)
	g := &gate{b: b}
	cfg.Plugin = append([]plugin.Plugin{func(next plugin.Handler) plugin.Handler {
		g.next = next
		return g
	}}, cfg.Plugin...)
	c.OnStartup(func() error {
		// The handler registry exists once the server has built the chain.
		b.foreign = cfg.Handler("tsig") != nil
		return nil
	})
	return b
}

func newBlock(cfg *dnsserver.Config) *Block {
	return &Block{Ring: tsigkey.NewRing(), cfg: cfg, replay: newReplayMemory(), definedBy: map[string]string{}}
}

// NewTestBlock returns a block that is not part of a configuration, holding
// keys: for tests that drive a plugin's handler through Gate.
func NewTestBlock(keys ...tsigkey.Key) *Block {
	b := newBlock(&dnsserver.Config{})
	for _, k := range keys {
		if err := b.AddKey(k, "test"); err != nil {
			panic(err)
		}
	}
	return b
}

// AddKey adds a key that a plugin of the block defines (where: the plugin
// and its Corefile line, for messages). The same definition twice is fine;
// another algorithm or secret under the same name is an error, also when
// the stock tsig plugin of the block has the name. The secret is registered
// with the DNS server, which then checks the MAC of a request signed with
// the key on the bytes that arrived.
func (b *Block) AddKey(k tsigkey.Key, where string) error {
	if old, ok := b.Ring.Get(k.Name); ok && old != k {
		return fmt.Errorf("TSIG key %s is defined twice in this server block with another algorithm or secret (%s and %s)", k.Name, b.definedBy[k.Name], where)
	}
	if b.cfg.TsigSecret == nil {
		b.cfg.TsigSecret = map[string]string{}
	}
	if old, ok := b.cfg.TsigSecret[k.Name]; ok && old != k.Secret {
		if _, ours := b.Ring.Get(k.Name); !ours {
			return fmt.Errorf("TSIG key %s is also a key of the tsig plugin of this server block, with another secret: give the key one name per secret", k.Name)
		}
	}
	if err := b.Ring.Add(k); err != nil {
		return err
	}
	if _, ok := b.definedBy[k.Name]; !ok {
		b.definedBy[k.Name] = where
	}
	b.cfg.TsigSecret[k.Name] = k.Secret
	return nil
}

// Gate returns a handler that decides about each request as the block's
// gate does and passes it to next: for tests that drive a plugin directly.
func (b *Block) Gate(next plugin.Handler) plugin.Handler { return &gate{b: b, next: next} }

// checkListeners refuses a configuration in which two server blocks that
// share a listener define one key name with different secrets: the DNS
// server holds one secret per name and listener, so one block's key would
// never verify (and the other block's secret would be checked for it).
func (reg *registry) checkListeners() error {
	var errs []string
	for i, a := range reg.order {
		for _, b := range reg.order[i+1:] {
			if !sameListener(a.cfg, b.cfg) {
				continue
			}
			for _, n := range a.Ring.Names() {
				ka, _ := a.Ring.Get(n)
				kb, ok := b.Ring.Get(n)
				if ok && ka.Secret != kb.Secret {
					errs = append(errs, fmt.Sprintf("TSIG key %s has different secrets in two server blocks on the same listener (%s and %s): the DNS server keeps one secret per key name and listener; give each secret its own key name", n, a.definedBy[n], b.definedBy[n]))
				}
			}
		}
	}
	if len(errs) > 0 {
		sort.Strings(errs)
		return fmt.Errorf("plugin/dnspki: %s", strings.Join(errs, "; "))
	}
	return nil
}

func sameListener(a, b *dnsserver.Config) bool {
	if a.Port != b.Port || a.Transport != b.Transport {
		return false
	}
	for _, h := range a.ListenHosts {
		if h == "" || slices.Contains(b.ListenHosts, h) || slices.Contains(b.ListenHosts, "") {
			return true
		}
	}
	return len(a.ListenHosts) == 0 || len(b.ListenHosts) == 0
}
