// Package jvm fetches Java programs from Maven Central with the ordinary mvn
// client and runs them: it writes a small pom naming the artifacts, asks
// `mvn dependency:build-classpath` for the classpath (the jars stay in
// ~/.m2, Maven's own cache, so a second fetch costs nothing), and starts the
// main class with java on that classpath.
//
// It is what runners/flink (Beam's Flink job server) and runners/apachekafka
// (an Apache Kafka broker) are built on. Nothing is downloaded but through
// mvn, and nothing is run but java.
package jvm
