// goplugin-greeter is a hashicorp/go-plugin gRPC plugin written the way third parties write
// them (plugin.Serve, hclog, client_golang), used to prove plugprom is a faithful host.
//
// Settings, each as a flag or (when the flag is absent) an environment variable:
//
//	-cookie-key, -cookie-value   GREETER_COOKIE_KEY / GREETER_COOKIE_VALUE
//	    handshake cookie (default PLUGPROM_PLUGIN=plugprom)
//	-versions 2,3                GREETER_VERSIONS
//	    app protocol versions served (default "1"); with more than one, VersionedPlugins
//	    negotiates the highest version the host also offers
//	-mode M                      GREETER_MODE
//	    "" (normal), "exit-after-handshake", "ignore-sigterm", "slow-start" (never serves),
//	    "hang-on-shutdown" (stays alive after GRPCController.Shutdown stopped its server)
//	-exit-code N                 GREETER_EXIT_CODE
//	    exit code for exit-after-handshake (default 7)
//	-exit-after 100ms            GREETER_EXIT_AFTER
//	    how long after serving exit-after-handshake exits
//	-start-delay 2s              GREETER_START_DELAY
//	    sleep this long before serving (a plugin that is slow to start but does start)
//	-protocol P                  GREETER_PROTOCOL
//	    "grpc" (default) or "netrpc" (the legacy net/rpc protocol)
//
// Environment only:
//
//	GREETER_FIXED_BODY     serve this file's bytes as /metrics instead of the registry (benchmarks)
//	PLUGPROM_METRICS_ADDR  where to serve /metrics: unix:/abs/path or host:port
package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"net/http"
	"net/rpc"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	wrapperspb "github.com/golang/protobuf/ptypes/wrappers"
	hclog "github.com/hashicorp/go-hclog"
	plugin "github.com/hashicorp/go-plugin"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"google.golang.org/grpc"
)

var (
	registry   = prometheus.NewRegistry()
	greetCount = prometheus.NewCounter(prometheus.CounterOpts{Name: "plugin_greet_count", Help: "Greet calls served."})
	tickCount  = prometheus.NewCounter(prometheus.CounterOpts{Name: "plugin_ticker_count", Help: "Timer ticks."})
	logger     = hclog.New(&hclog.LoggerOptions{Name: "goplugin-greeter", Level: hclog.Debug, Output: os.Stderr, JSONFormat: true})
)

// greeterServer is the service the host calls; messages are wire-identical to greeter.v1's
// GreetRequest{string name = 1} and GreetResponse{string message = 1}.
type greeterServer interface {
	Greet(context.Context, *wrapperspb.StringValue) (*wrapperspb.StringValue, error)
}

type greeter struct{ version int }

func (g *greeter) Greet(_ context.Context, in *wrapperspb.StringValue) (*wrapperspb.StringValue, error) {
	greetCount.Inc()
	logger.Info("greeted", "name", in.GetValue(), "version", g.version)
	return &wrapperspb.StringValue{Value: fmt.Sprintf("Hello, %s! (v%d)", in.GetValue(), g.version)}, nil
}

var greeterDesc = grpc.ServiceDesc{
	ServiceName: "greeter.v1.GreeterService",
	HandlerType: (*greeterServer)(nil),
	Methods: []grpc.MethodDesc{{
		MethodName: "Greet",
		Handler: func(srv interface{}, ctx context.Context, dec func(interface{}) error, _ grpc.UnaryServerInterceptor) (interface{}, error) {
			in := new(wrapperspb.StringValue)
			if err := dec(in); err != nil {
				return nil, err
			}
			return srv.(greeterServer).Greet(ctx, in)
		},
	}},
	Metadata: "greeter.proto",
}

type greeterPlugin struct {
	plugin.NetRPCUnsupportedPlugin
	version int
}

func (p *greeterPlugin) GRPCServer(_ *plugin.GRPCBroker, s *grpc.Server) error {
	s.RegisterService(&greeterDesc, &greeter{version: p.version})
	return nil
}

// rpcGreeter is the net/rpc flavour, for hosts that still speak go-plugin's legacy protocol.
type rpcGreeter struct{}

func (rpcGreeter) Greet(name string, reply *string) error {
	greetCount.Inc()
	*reply = "Hello, " + name + "! (netrpc)"
	return nil
}

type netrpcPlugin struct{}

func (netrpcPlugin) Server(*plugin.MuxBroker) (interface{}, error) { return rpcGreeter{}, nil }
func (netrpcPlugin) Client(*plugin.MuxBroker, *rpc.Client) (interface{}, error) {
	return nil, fmt.Errorf("goplugin-greeter is a plugin, not a host")
}

func (p *greeterPlugin) GRPCClient(context.Context, *plugin.GRPCBroker, *grpc.ClientConn) (interface{}, error) {
	return nil, fmt.Errorf("goplugin-greeter is a plugin, not a host")
}

func serveMetrics(addr string) {
	network, address := "tcp", addr
	if strings.HasPrefix(addr, "unix:") {
		network, address = "unix", strings.TrimPrefix(addr, "unix:")
		os.Remove(address)
	}
	l, err := net.Listen(network, address)
	if err != nil {
		logger.Error("cannot serve metrics", "addr", addr, "error", err)
		os.Exit(1)
	}
	var handler http.Handler = promhttp.HandlerFor(registry, promhttp.HandlerOpts{EnableOpenMetrics: true})
	if file := os.Getenv("GREETER_FIXED_BODY"); file != "" {
		body, err := os.ReadFile(file)
		if err != nil {
			logger.Error("cannot read GREETER_FIXED_BODY", "error", err)
			os.Exit(1)
		}
		handler = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
			w.Header().Set("Content-Length", strconv.Itoa(len(body)))
			w.Write(body)
		})
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", handler)
	go http.Serve(l, mux)
}

// setting is a flag whose default comes from an environment variable.
func setting(name, env, def, usage string) *string {
	if v, ok := os.LookupEnv(env); ok && v != "" {
		def = v
	}
	return flag.String(name, def, usage+" (env "+env+")")
}

func main() {
	cookieKey := setting("cookie-key", "GREETER_COOKIE_KEY", "PLUGPROM_PLUGIN", "handshake magic cookie key")
	cookieValue := setting("cookie-value", "GREETER_COOKIE_VALUE", "plugprom", "handshake magic cookie value")
	versionList := setting("versions", "GREETER_VERSIONS", "1", "comma-separated app protocol versions served")
	mode := setting("mode", "GREETER_MODE", "", "exit-after-handshake, ignore-sigterm, slow-start or hang-on-shutdown")
	exitCode := setting("exit-code", "GREETER_EXIT_CODE", "7", "exit code in exit-after-handshake mode")
	exitAfter := setting("exit-after", "GREETER_EXIT_AFTER", "100ms", "how long after serving exit-after-handshake exits")
	startDelay := setting("start-delay", "GREETER_START_DELAY", "0s", "sleep this long before serving")
	protocol := setting("protocol", "GREETER_PROTOCOL", "grpc", "grpc or netrpc")
	flag.Parse()

	var versions []int
	for _, s := range strings.Split(*versionList, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1 {
			fmt.Fprintf(os.Stderr, "bad -versions %q: want a comma-separated list of positive integers\n", *versionList)
			os.Exit(2)
		}
		versions = append(versions, n)
	}
	after, err := time.ParseDuration(*exitAfter)
	if err != nil {
		fmt.Fprintf(os.Stderr, "bad -exit-after %q: %v\n", *exitAfter, err)
		os.Exit(2)
	}
	delay, err := time.ParseDuration(*startDelay)
	if err != nil {
		fmt.Fprintf(os.Stderr, "bad -start-delay %q: %v\n", *startDelay, err)
		os.Exit(2)
	}
	code, err := strconv.Atoi(*exitCode)
	if err != nil {
		fmt.Fprintf(os.Stderr, "bad -exit-code %q\n", *exitCode)
		os.Exit(2)
	}
	if *protocol != "grpc" && *protocol != "netrpc" {
		fmt.Fprintf(os.Stderr, "bad -protocol %q: want grpc or netrpc\n", *protocol)
		os.Exit(2)
	}

	registry.MustRegister(greetCount, tickCount, collectors.NewGoCollector())
	if addr := os.Getenv("PLUGPROM_METRICS_ADDR"); addr != "" {
		serveMetrics(addr)
	}
	go func() {
		for range time.Tick(200 * time.Millisecond) {
			tickCount.Inc()
		}
	}()

	switch *mode {
	case "":
	case "ignore-sigterm":
		signal.Ignore(syscall.SIGTERM, syscall.SIGINT)
	case "slow-start":
		delay = time.Hour
	case "hang-on-shutdown":
	case "exit-after-handshake":
		go func() {
			time.Sleep(delay + after)
			logger.Error("exiting on purpose right after the handshake", "code", code)
			os.Exit(code)
		}()
	default:
		fmt.Fprintf(os.Stderr, "unknown -mode %q\n", *mode)
		os.Exit(2)
	}
	logger.Info("plugin started", "versions", fmt.Sprint(versions), "mode", *mode, "protocol", *protocol)
	if delay > 0 {
		logger.Info("delaying serve", "delay", delay.String())
		time.Sleep(delay)
	}

	config := &plugin.ServeConfig{
		HandshakeConfig: plugin.HandshakeConfig{ProtocolVersion: uint(versions[0]), MagicCookieKey: *cookieKey, MagicCookieValue: *cookieValue},
		GRPCServer:      plugin.DefaultGRPCServer,
		Logger:          logger,
	}
	if *protocol == "netrpc" {
		config.GRPCServer = nil
		config.Plugins = plugin.PluginSet{"greeter": netrpcPlugin{}}
	} else if len(versions) == 1 {
		config.Plugins = plugin.PluginSet{"greeter": &greeterPlugin{version: versions[0]}}
	} else {
		config.VersionedPlugins = map[int]plugin.PluginSet{}
		for _, v := range versions {
			config.VersionedPlugins[v] = plugin.PluginSet{"greeter": &greeterPlugin{version: v}}
		}
	}
	plugin.Serve(config)
	if *mode == "hang-on-shutdown" {
		logger.Warn("server stopped; staying alive on purpose")
		for {
			time.Sleep(time.Hour)
		}
	}
}
