// Written for trialflow (runners/flink/loopback.go); not Beam's source.
//
// Beam 2.62.0's org.apache.beam.sdk.fn.server.ServerFactory builds every
// gRPC server with NettyServerBuilder.forPort(port), which binds all
// interfaces whatever host the job server was given (--job-host) and
// whatever address allocateAddressAndCreate chose. No flag or property
// changes that, so trialflow puts this class, with the same public API,
// ahead of beam-sdks-java-core on the job server's classpath: servers bind
// the host of their URL (create) or the loopback address
// (allocateAddressAndCreate). It serves the job server's Job API and
// artifact ports and the Fn API servers (control, data, state, logging,
// provisioning) that the Flink runner opens for each job's SDK workers.
package org.apache.beam.sdk.fn.server;

import java.io.File;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.util.List;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;
import org.apache.beam.model.pipeline.v1.Endpoints;
import org.apache.beam.sdk.fn.channel.SocketAddressFactory;
import org.apache.beam.vendor.grpc.v1p60p1.io.grpc.BindableService;
import org.apache.beam.vendor.grpc.v1p60p1.io.grpc.Server;
import org.apache.beam.vendor.grpc.v1p60p1.io.grpc.ServerInterceptors;
import org.apache.beam.vendor.grpc.v1p60p1.io.grpc.netty.NettyServerBuilder;
import org.apache.beam.vendor.grpc.v1p60p1.io.netty.channel.epoll.EpollEventLoopGroup;
import org.apache.beam.vendor.grpc.v1p60p1.io.netty.channel.epoll.EpollServerDomainSocketChannel;
import org.apache.beam.vendor.grpc.v1p60p1.io.netty.channel.unix.DomainSocketAddress;

public abstract class ServerFactory {
  static final int KEEP_ALIVE_SECONDS = 20;

  public static ServerFactory createDefault() {
    return new InetSocketAddressServerFactory(UrlFactory.createDefault(), () -> 0);
  }

  public static ServerFactory createWithUrlFactory(UrlFactory urlFactory) {
    return new InetSocketAddressServerFactory(urlFactory, () -> 0);
  }

  public static ServerFactory createWithPortSupplier(Supplier<Integer> portSupplier) {
    return new InetSocketAddressServerFactory(UrlFactory.createDefault(), portSupplier);
  }

  public static ServerFactory createWithUrlFactoryAndPortSupplier(
      UrlFactory urlFactory, Supplier<Integer> portSupplier) {
    return new InetSocketAddressServerFactory(urlFactory, portSupplier);
  }

  /** Epoll is a transport choice only; the servers here bind loopback like the default. */
  public static ServerFactory createEpollSocket() {
    return createDefault();
  }

  public static ServerFactory createEpollDomainSocket() {
    return new DomainSocketServerFactory();
  }

  public abstract Server allocateAddressAndCreate(
      List<BindableService> services, Endpoints.ApiServiceDescriptor.Builder builder)
      throws IOException;

  public abstract Server create(
      List<BindableService> services, Endpoints.ApiServiceDescriptor serviceDescriptor)
      throws IOException;

  static Server start(NettyServerBuilder b, List<BindableService> services) throws IOException {
    b.maxInboundMessageSize(Integer.MAX_VALUE)
        .permitKeepAliveTime(KEEP_ALIVE_SECONDS, TimeUnit.SECONDS);
    for (BindableService s : services) {
      b.addService(ServerInterceptors.intercept(s, GrpcContextHeaderAccessorProvider.interceptor()));
    }
    return b.build().start();
  }

  /** Binds the address it is given: loopback when it chooses the port itself. */
  public static class InetSocketAddressServerFactory extends ServerFactory {
    private final UrlFactory urlFactory;
    private final Supplier<Integer> portSupplier;

    InetSocketAddressServerFactory(UrlFactory urlFactory, Supplier<Integer> portSupplier) {
      this.urlFactory = urlFactory;
      this.portSupplier = portSupplier;
    }

    @Override
    public Server allocateAddressAndCreate(
        List<BindableService> services, Endpoints.ApiServiceDescriptor.Builder builder)
        throws IOException {
      InetAddress lo = InetAddress.getLoopbackAddress();
      Server server =
          start(NettyServerBuilder.forAddress(new InetSocketAddress(lo, portSupplier.get())), services);
      builder.setUrl(urlFactory.createUrl(lo.getHostAddress(), server.getPort()));
      return server;
    }

    @Override
    public Server create(
        List<BindableService> services, Endpoints.ApiServiceDescriptor serviceDescriptor)
        throws IOException {
      SocketAddress a = SocketAddressFactory.createFrom(serviceDescriptor.getUrl());
      if (!(a instanceof InetSocketAddress)) {
        throw new IllegalArgumentException(
            "ServerFactory needs a host:port address, got " + serviceDescriptor.getUrl());
      }
      return start(NettyServerBuilder.forAddress(a), services);
    }
  }

  static class DomainSocketServerFactory extends ServerFactory {
    @Override
    public Server allocateAddressAndCreate(
        List<BindableService> services, Endpoints.ApiServiceDescriptor.Builder builder)
        throws IOException {
      File f;
      do {
        f =
            new File(
                System.getProperty("java.io.tmpdir"),
                "fnapi" + ThreadLocalRandom.current().nextInt(10000) + ".sock");
      } while (f.exists());
      builder.setUrl("unix://" + f.getAbsolutePath());
      return create(services, builder.build());
    }

    @Override
    public Server create(
        List<BindableService> services, Endpoints.ApiServiceDescriptor serviceDescriptor)
        throws IOException {
      SocketAddress a = SocketAddressFactory.createFrom(serviceDescriptor.getUrl());
      if (!(a instanceof DomainSocketAddress)) {
        throw new IllegalArgumentException(
            "ServerFactory needs a unix:// address, got " + serviceDescriptor.getUrl());
      }
      return start(
          NettyServerBuilder.forAddress(a)
              .channelType(EpollServerDomainSocketChannel.class)
              .workerEventLoopGroup(new EpollEventLoopGroup())
              .bossEventLoopGroup(new EpollEventLoopGroup()),
          services);
    }
  }

  /** Makes the URL that clients dial from a server's address and port. */
  @FunctionalInterface
  public interface UrlFactory {
    String createUrl(String address, int port);

    static UrlFactory createDefault() {
      return (host, port) -> (host.indexOf(':') >= 0 ? "[" + host + "]" : host) + ":" + port;
    }
  }
}
