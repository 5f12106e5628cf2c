/*
 * The floor of netns-bench's detect-types on this machine: the least any daemon can do. Captures
 * with libpcap in immediate mode (as the daemon does) and writes a fixed attackalert line to
 * stdout for every TCP or UDP packet, nothing else. Used by first-probe-ab.sh as the "floor"
 * variant; not part of the daemon.
 *
 *   gcc -O2 -o first-line-floor bench/first-line-floor.c -lpcap
 *   first-line-floor IFACE
 */
#include <pcap/pcap.h>
#include <stdio.h>
#include <unistd.h>

static void on_packet(u_char *user, const struct pcap_pkthdr *header, const u_char *bytes) {
  (void)user;
  (void)header;
  (void)bytes;
  static const char line[] = "attackalert: floor scan from host: -\n";
  if (write(1, line, sizeof line - 1) < 0) _exit(1);
}

int main(int argc, char **argv) {
  char errbuf[PCAP_ERRBUF_SIZE];
  if (argc != 2) {
    fprintf(stderr, "usage: %s IFACE\n", argv[0]);
    return 2;
  }
  pcap_t *p = pcap_create(argv[1], errbuf);
  if (p == NULL) {
    fprintf(stderr, "%s\n", errbuf);
    return 1;
  }
  pcap_set_snaplen(p, 256);
  pcap_set_promisc(p, 0);
  pcap_set_immediate_mode(p, 1);
  pcap_set_buffer_size(p, 16 << 20);
  struct bpf_program program;
  if (pcap_activate(p) < 0 || pcap_compile(p, &program, "tcp or udp", 1, PCAP_NETMASK_UNKNOWN) < 0 ||
      pcap_setfilter(p, &program) < 0) {
    fprintf(stderr, "%s\n", pcap_geterr(p));
    return 1;
  }
  static const char ready[] = "adminalert: PortSentry is now active and listening.\n";
  if (write(1, ready, sizeof ready - 1) < 0) return 1;
  pcap_loop(p, -1, on_packet, NULL);
  return 0;
}
