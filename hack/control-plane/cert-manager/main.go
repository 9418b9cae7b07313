// Command cert-manager-controller runs the subset of cert-manager's controller
// that the local control plane needs (SelfSigned and CA issuers) as a host
// process, the same way the plane runs the CAPI managers.
//
// The Go module proxy serves cert-manager's main module but not its binary
// modules (cmd/controller), so this small main wires the controllers from the
// main module's pkg/ packages itself. ACME, Vault, Venafi, the ingress/gateway
// shims, the webhook and cainjector are left out on purpose: CAPI reads the CA
// straight from the issued Secret.
package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"k8s.io/klog/v2"

	controllerpkg "github.com/cert-manager/cert-manager/pkg/controller"
	"github.com/cert-manager/cert-manager/pkg/controller/certificaterequests/approver"
	crca "github.com/cert-manager/cert-manager/pkg/controller/certificaterequests/ca"
	crselfsigned "github.com/cert-manager/cert-manager/pkg/controller/certificaterequests/selfsigned"
	"github.com/cert-manager/cert-manager/pkg/controller/certificates/issuing"
	"github.com/cert-manager/cert-manager/pkg/controller/certificates/keymanager"
	"github.com/cert-manager/cert-manager/pkg/controller/certificates/readiness"
	"github.com/cert-manager/cert-manager/pkg/controller/certificates/requestmanager"
	"github.com/cert-manager/cert-manager/pkg/controller/certificates/revisionmanager"
	"github.com/cert-manager/cert-manager/pkg/controller/certificates/trigger"
	"github.com/cert-manager/cert-manager/pkg/controller/clusterissuers"
	"github.com/cert-manager/cert-manager/pkg/controller/issuers"
	logf "github.com/cert-manager/cert-manager/pkg/logs"

	// The issuers/clusterissuers controllers only know issuer types that
	// registered themselves; without these Issuers never become Ready.
	_ "github.com/cert-manager/cert-manager/pkg/issuer/ca"
	_ "github.com/cert-manager/cert-manager/pkg/issuer/selfsigned"
)

var defaultControllers = []string{
	issuers.ControllerName,
	clusterissuers.ControllerName,
	trigger.ControllerName,
	keymanager.ControllerName,
	requestmanager.ControllerName,
	issuing.ControllerName,
	readiness.ControllerName,
	revisionmanager.ControllerName,
	approver.ControllerName,
	crselfsigned.CRControllerName,
	crca.CRControllerName,
}

func main() {
	kubeconfig := flag.String("kubeconfig", "", "kubeconfig of the target cluster (empty: in-cluster config)")
	leaderElect := flag.Bool("leader-elect", false, "accepted for parity with the other managers; only false is supported")
	healthAddr := flag.String("health-address", "127.0.0.1:9403", "listen address for /healthz, /livez, /readyz and /metrics")
	clusterResourceNamespace := flag.String("cluster-resource-namespace", "cert-manager", "namespace holding the Secrets referenced by ClusterIssuers")
	namespace := flag.String("namespace", "", "only watch this namespace (empty: all; the clusterissuers controller is then skipped)")
	controllers := flag.String("controllers", strings.Join(defaultControllers, ","), "comma-separated controllers to run (only the ones linked in here are known)")
	// Expose just klog's verbosity; cert-manager logs Info at V(2).
	klogFlags := flag.NewFlagSet("klog", flag.ExitOnError)
	klog.InitFlags(klogFlags)
	_ = klogFlags.Set("v", "2")
	flag.Var(klogFlags.Lookup("v").Value, "v", "log verbosity (2 = info, 4 = debug)")
	flag.Parse()

	if *leaderElect {
		fatal(fmt.Errorf("--leader-elect=true is not supported: this build runs a single replica"))
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx = logf.NewContext(ctx, logf.Log, "controller")
	log := logf.FromContext(ctx)

	factory, err := controllerpkg.NewContextFactory(ctx, controllerpkg.ContextOptions{
		Kubeconfig:         *kubeconfig,
		KubernetesAPIQPS:   20, // upstream defaults
		KubernetesAPIBurst: 50,
		Namespace:          *namespace,
		IssuerOptions:      controllerpkg.IssuerOptions{ClusterResourceNamespace: *clusterResourceNamespace},
		// Zero would mean "retry failed issuance immediately, forever"; keep upstream's defaults.
		CertificateOptions: controllerpkg.CertificateOptions{
			CertificateRequestMinimumBackoffDuration: time.Hour,
			CertificateRequestMaximumBackoffDuration: 32 * time.Hour,
		},
	})
	if err != nil {
		fatal(err)
	}
	// A Context built from the factory shares its informer factories and
	// metrics, which is all main needs to start and observe them.
	shared, err := factory.Build()
	if err != nil {
		fatal(err)
	}

	// Bind before starting anything so a busy port fails fast and visibly.
	ln, err := net.Listen("tcp", *healthAddr)
	if err != nil {
		fatal(err)
	}
	var ready atomic.Bool
	health := func(w http.ResponseWriter, _ *http.Request) {
		if !ready.Load() {
			http.Error(w, "informer caches not synced yet", http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ok"))
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", health)
	mux.HandleFunc("/livez", health)
	mux.HandleFunc("/readyz", health)
	mux.Handle("/metrics", shared.Metrics.NewServer(ln).Handler)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && err != http.ErrServerClosed {
			log.Error(err, "health server failed")
			stop()
		}
	}()

	known := controllerpkg.Known()
	var run []controllerpkg.Interface
	for _, name := range strings.Split(*controllers, ",") {
		name = strings.TrimSpace(name)
		if name == "" {
			continue
		}
		if *namespace != "" && name == clusterissuers.ControllerName {
			continue // cluster-scoped; meaningless when namespaced
		}
		construct, ok := known[name]
		if !ok {
			fatal(fmt.Errorf("unknown controller %q", name))
		}
		c, err := construct(factory)
		if err != nil {
			fatal(fmt.Errorf("building controller %s: %w", name, err))
		}
		run = append(run, c)
		log.V(logf.InfoLevel).Info("starting controller", "controller", name)
	}

	// Informer factories only start informers that were requested, so this
	// must come after every controller has registered its listers.
	shared.SharedInformerFactory.Start(ctx.Done())
	shared.KubeSharedInformerFactory.Start(ctx.Done())
	shared.HTTP01ResourceMetadataInformersFactory.Start(ctx.Done())
	shared.GWShared.Start(ctx.Done())

	var wg sync.WaitGroup
	for _, c := range run {
		wg.Go(func() {
			if err := c.Run(5, ctx); err != nil { // 5 workers, as upstream
				log.Error(err, "controller exited")
				stop()
			}
		})
	}

	go func() {
		shared.SharedInformerFactory.WaitForCacheSync(ctx.Done())
		shared.KubeSharedInformerFactory.WaitForCacheSync(ctx.Done())
		if ctx.Err() == nil {
			ready.Store(true)
			log.V(logf.InfoLevel).Info("caches synced, healthy", "address", ln.Addr().String())
		}
	}()

	<-ctx.Done()
	ready.Store(false)
	wg.Wait()
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = srv.Shutdown(shutdownCtx)
	klog.Flush()
}

func fatal(err error) {
	klog.ErrorS(err, "cert-manager controller failed")
	klog.Flush()
	os.Exit(1)
}
