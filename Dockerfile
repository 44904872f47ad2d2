# Lumen web service: `docker build -t lumen . && docker run -p 5000:5000 -v $PWD/runs:/models lumen /models/model.lumen`
# Build stage: the SDK restores and publishes the CLI (which hosts `lumen serve`) for linux-x64.
FROM mcr.microsoft.com/dotnet/sdk:10.0 AS build
WORKDIR /src
COPY . .
RUN dotnet publish src/Lumen.Cli -c Release -r linux-x64 --self-contained false -o /app

# Runtime stage: ASP.NET Core runtime only, non-root user, no build tools.
FROM mcr.microsoft.com/dotnet/aspnet:10.0 AS runtime
WORKDIR /app
COPY --from=build /app .
RUN groupadd --system lumen && useradd --system --gid lumen --home-dir /app lumen \
    && mkdir -p /home/lumen/.cache && chown -R lumen:lumen /home/lumen
ENV LUMEN_HOME=/home/lumen/.cache/lumen
USER lumen
EXPOSE 5000
# The runtime image has no curl or wget and its /bin/sh is dash (no /dev/tcp): Lumen asks itself.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s CMD /app/lumen health http://127.0.0.1:5000/healthz || exit 1
# Inside a container the service must listen on all interfaces; publish the port only where needed.
ENTRYPOINT ["/app/lumen", "serve", "--urls", "http://0.0.0.0:5000"]
CMD ["/models/model.lumen"]
