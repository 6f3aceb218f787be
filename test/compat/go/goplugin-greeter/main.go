// goplugin-greeter is a hashicorp/go-plugin gRPC plugin written the way third parties write
// them (plugin.Serve, hclog, client_golang), used to prove plugprom is a faithful host.
//
// Environment (besides what the host sets):
//
//	GREETER_COOKIE_KEY / GREETER_COOKIE_VALUE  handshake cookie (default PLUGPROM_PLUGIN=plugprom)
//	GREETER_VERSIONS  comma list of app protocol versions served (default "1"); with more
//	                  than one, VersionedPlugins negotiates the highest common one
//	GREETER_MODE      "" (normal), "exit-after-handshake", "ignore-sigterm", "slow-start"
//	GREETER_EXIT_CODE exit code for exit-after-handshake (default 7)
//	GREETER_PROTOCOL  "grpc" (default) or "netrpc" (the legacy net/rpc protocol)
//	GREETER_FIXED_BODY  serve this file's bytes as /metrics instead of the registry (benchmarks)
//	PLUGPROM_METRICS_ADDR  where to serve /metrics: unix:/abs/path or host:port
package main

import (
	"context"
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

	hclog "github.com/hashicorp/go-hclog"
	plugin "github.com/hashicorp/go-plugin"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"google.golang.org/grpc"
	wrapperspb "github.com/golang/protobuf/ptypes/wrappers"
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

func main() {
	registry.MustRegister(greetCount, tickCount, collectors.NewGoCollector())
	if addr := os.Getenv("PLUGPROM_METRICS_ADDR"); addr != "" {
		serveMetrics(addr)
	}
	go func() {
		for range time.Tick(200 * time.Millisecond) {
			tickCount.Inc()
		}
	}()

	mode := os.Getenv("GREETER_MODE")
	switch mode {
	case "ignore-sigterm":
		signal.Ignore(syscall.SIGTERM, syscall.SIGINT)
	case "slow-start":
		time.Sleep(time.Hour)
	case "exit-after-handshake":
		go func() {
			time.Sleep(100 * time.Millisecond)
			code := 7
			if c, err := strconv.Atoi(os.Getenv("GREETER_EXIT_CODE")); err == nil {
				code = c
			}
			logger.Error("exiting on purpose right after the handshake", "code", code)
			os.Exit(code)
		}()
	}

	cookieKey, cookieValue := os.Getenv("GREETER_COOKIE_KEY"), os.Getenv("GREETER_COOKIE_VALUE")
	if cookieKey == "" {
		cookieKey, cookieValue = "PLUGPROM_PLUGIN", "plugprom"
	}
	versions := []int{1}
	if v := os.Getenv("GREETER_VERSIONS"); v != "" {
		versions = nil
		for _, s := range strings.Split(v, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(s))
			if err != nil {
				fmt.Fprintf(os.Stderr, "bad GREETER_VERSIONS %q\n", v)
				os.Exit(2)
			}
			versions = append(versions, n)
		}
	}
	logger.Info("plugin started", "versions", fmt.Sprint(versions), "mode", mode)

	config := &plugin.ServeConfig{
		HandshakeConfig: plugin.HandshakeConfig{ProtocolVersion: uint(versions[0]), MagicCookieKey: cookieKey, MagicCookieValue: cookieValue},
		GRPCServer:      plugin.DefaultGRPCServer,
		Logger:          logger,
	}
	if os.Getenv("GREETER_PROTOCOL") == "netrpc" {
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
}
