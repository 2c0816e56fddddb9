// Package certreload serves a TLS certificate from PEM files and picks up
// rotated files without a restart.
package certreload

import (
	"crypto/tls"
	"fmt"
	"os"
	"sync"
	"time"
)

type stamp struct {
	mod  time.Time
	size int64
}

// Reloader loads a certificate and key pair from files and reloads them when
// either file changes. It is safe for concurrent use.
type Reloader struct {
	certFile, keyFile string

	mu         sync.Mutex
	cert       *tls.Certificate
	cstamp     stamp
	kstamp     stamp
	lastReload error
}

// New loads the pair once; a pair that cannot be loaded now is an error.
func New(certFile, keyFile string) (*Reloader, error) {
	r := &Reloader{certFile: certFile, keyFile: keyFile}
	if _, err := r.Get(); err != nil {
		return nil, err
	}
	return r, nil
}

func statOf(path string) (stamp, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return stamp{}, err
	}
	return stamp{fi.ModTime(), fi.Size()}, nil
}

// Get returns the current certificate, reloading it if the files changed.
// While a rotation is half done (the new certificate does not match the old
// key, or a file is missing) the previous certificate keeps being served;
// LastError reports why the reload did not take.
func (r *Reloader) Get() (*tls.Certificate, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	cs, cerr := statOf(r.certFile)
	ks, kerr := statOf(r.keyFile)
	if cerr == nil && kerr == nil && r.cert != nil && cs == r.cstamp && ks == r.kstamp {
		return r.cert, nil
	}
	cert, err := tls.LoadX509KeyPair(r.certFile, r.keyFile)
	if err == nil && (cerr != nil || kerr != nil) {
		err = fmt.Errorf("certreload: stat: %v %v", cerr, kerr)
	}
	if err != nil {
		r.lastReload = fmt.Errorf("certreload: loading %s / %s: %w", r.certFile, r.keyFile, err)
		if r.cert != nil {
			return r.cert, nil
		}
		return nil, r.lastReload
	}
	r.cert, r.cstamp, r.kstamp, r.lastReload = &cert, cs, ks, nil
	return r.cert, nil
}

// LastError is the error of the most recent failed reload, or nil once a
// reload succeeds.
func (r *Reloader) LastError() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.lastReload
}
