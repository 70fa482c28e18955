# The tansu Kafka-API broker (the one ./scripts/setup.sh builds) on an empty
# image, its sqlite storage in /data. Nothing is pulled.
FROM scratch
COPY rootfs/ /
ENV PATH=/usr/local/bin
WORKDIR /data
EXPOSE 9092
ENTRYPOINT ["tansu"]
CMD ["broker", "--listener-url", "tcp://0.0.0.0:9092", "--advertised-listener-url", "tcp://tansu:9092", "--storage-engine", "sqlite://tansu.db"]
