# One image per service, chosen with the PROJECT build argument:
#   docker build --build-arg PROJECT=Teleport.Edge   -t teleport-edge .
#   docker build --build-arg PROJECT=Teleport.Origin -t teleport-origin .
#   docker build --build-arg PROJECT=Teleport.Demo   -t teleport-demo .
# Arguments given to `docker run IMAGE ...` are the program's own flags (see --help).
ARG PROJECT=Teleport.Edge

FROM mcr.microsoft.com/dotnet/sdk:10.0 AS build
ARG PROJECT
WORKDIR /src

# Restore from the project files alone, so that a source change does not repeat it.
COPY global.json Directory.Build.props Directory.Packages.props ./
COPY src/Teleport.Service.props src/
COPY src/Teleport.Protocol/Teleport.Protocol.csproj src/Teleport.Protocol/
COPY src/Teleport.Edge/Teleport.Edge.csproj src/Teleport.Edge/
COPY src/Teleport.Origin/Teleport.Origin.csproj src/Teleport.Origin/
COPY src/Teleport.Demo/Teleport.Demo.csproj src/Teleport.Demo/
RUN case "$PROJECT" in \
      Teleport.Edge|Teleport.Origin|Teleport.Demo) ;; \
      *) echo "PROJECT must be Teleport.Edge, Teleport.Origin or Teleport.Demo, not '$PROJECT'" >&2; exit 1 ;; \
    esac \
 && dotnet restore "src/$PROJECT/$PROJECT.csproj"

COPY protos/ protos/
COPY src/ src/
# The assemblies are named teleport-edge, teleport-origin and Teleport.Demo (the name the others grant
# their internals to): record which one this image runs.
RUN dotnet publish "src/$PROJECT/$PROJECT.csproj" -c Release --no-restore -o /app -p:UseAppHost=false \
 && name="$(dotnet msbuild "src/$PROJECT/$PROJECT.csproj" -getProperty:AssemblyName | tail -n 1)" \
 && test -f "/app/$name.dll" \
 && echo "$name" > /app/assembly-name

# The ASP.NET runtime only: no SDK, sources or build output beyond the published files.
FROM mcr.microsoft.com/dotnet/aspnet:10.0
# What the HEALTHCHECK asks. Edge and origin: /readyz of the admin listener at the port docker-compose.yml and
# deploy/kubernetes/ give it, so run them with --admin 0.0.0.0:9100 (or TELEPORT_ADMIN); the demo's sample
# upstream: http://127.0.0.1:8081/healthz. Change it with --build-arg HEALTHCHECK_URL=... or -e at run time.
ARG HEALTHCHECK_URL=http://127.0.0.1:9100/readyz
ENV HEALTHCHECK_URL=$HEALTHCHECK_URL
WORKDIR /app
COPY --from=build /app .
# A fixed name for the ENTRYPOINT: the dotnet host follows the link, so teleport-edge.runtimeconfig.json
# (or the origin's, or the demo's) is the one it reads.
RUN ln -s "$(cat assembly-name).dll" app.dll && rm assembly-name
# The base image sets ASPNETCORE_HTTP_PORTS=8080; the services listen where --listen says, nowhere else.
ENV ASPNETCORE_HTTP_PORTS=
# The base image's non-root user (APP_UID, 1654).
USER $APP_UID
ENTRYPOINT ["dotnet", "/app/app.dll"]
# The image has no curl: the program asks itself (--probe URL: exit 0 on 2xx, else 1 with the reason, which
# `docker inspect` shows). Shell form, for $HEALTHCHECK_URL; "|| exit 1" because Docker reserves exit code 2.
HEALTHCHECK --interval=10s --timeout=6s --start-period=30s --retries=3 \
  CMD dotnet /app/app.dll --probe "$HEALTHCHECK_URL" || exit 1
