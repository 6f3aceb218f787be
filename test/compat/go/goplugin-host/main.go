// goplugin-host is a hashicorp/go-plugin host (plugin.NewClient) that launches a plugin and
// reports each step as a JSON line on stdout; it exits 0 only when every step succeeded.
// It proves that plugins built with plugprom's TypeScript SDK work under real go-plugin.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"time"

	hclog "github.com/hashicorp/go-hclog"
	plugin "github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
	wrapperspb "github.com/golang/protobuf/ptypes/wrappers"
)

type greeterClient struct{ conn *grpc.ClientConn }

func (g *greeterClient) Greet(name string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	out := new(wrapperspb.StringValue)
	if err := g.conn.Invoke(ctx, "/greeter.v1.GreeterService/Greet", &wrapperspb.StringValue{Value: name}, out); err != nil {
		return "", err
	}
	return out.GetValue(), nil
}

type greeterPlugin struct{ plugin.NetRPCUnsupportedPlugin }

func (greeterPlugin) GRPCServer(*plugin.GRPCBroker, *grpc.Server) error {
	return fmt.Errorf("host side only")
}

func (greeterPlugin) GRPCClient(_ context.Context, _ *plugin.GRPCBroker, conn *grpc.ClientConn) (interface{}, error) {
	return &greeterClient{conn: conn}, nil
}

func report(step string, err error, extra map[string]interface{}) {
	line := map[string]interface{}{"step": step, "ok": err == nil}
	if err != nil {
		line["error"] = err.Error()
	}
	for k, v := range extra {
		line[k] = v
	}
	b, _ := json.Marshal(line)
	fmt.Println(string(b))
	if err != nil {
		os.Exit(1)
	}
}

func main() {
	cmd := flag.String("cmd", "", "plugin executable to launch")
	autoMTLS := flag.Bool("auto-mtls", false, "negotiate go-plugin AutoMTLS")
	cookieKey := flag.String("cookie-key", "PLUGPROM_PLUGIN", "magic cookie key")
	cookieValue := flag.String("cookie-value", "plugprom", "magic cookie value")
	version := flag.Uint("version", 1, "app protocol version")
	flag.Parse()
	if *cmd == "" {
		fmt.Fprintln(os.Stderr, "usage: goplugin-host -cmd <plugin> [-auto-mtls]")
		os.Exit(2)
	}

	client := plugin.NewClient(&plugin.ClientConfig{
		HandshakeConfig:  plugin.HandshakeConfig{ProtocolVersion: *version, MagicCookieKey: *cookieKey, MagicCookieValue: *cookieValue},
		Plugins:          plugin.PluginSet{"greeter": greeterPlugin{}},
		Cmd:              exec.Command(*cmd),
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		AutoMTLS:         *autoMTLS,
		StartTimeout:     20 * time.Second,
		Logger:           hclog.New(&hclog.LoggerOptions{Name: "host", Output: os.Stderr, Level: hclog.Debug}),
	})
	defer client.Kill()

	rpc, err := client.Client()
	report("handshake", err, map[string]interface{}{"protocol": string(client.Protocol()), "negotiatedVersion": client.NegotiatedVersion()})
	report("ping", rpc.Ping(), nil)
	raw, err := rpc.Dispense("greeter")
	report("dispense", err, nil)
	msg, err := raw.(*greeterClient).Greet("compat")
	report("greet", err, map[string]interface{}{"message": msg})

	client.Kill()
	deadline := time.Now().Add(10 * time.Second)
	for !client.Exited() && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	var exitErr error
	if !client.Exited() {
		exitErr = fmt.Errorf("plugin process still running after Kill")
	}
	report("kill", exitErr, nil)
}
