from cpython.object cimport PyObject
from compat cimport socklen_t, sockaddr, sockaddr_storage


cdef enum:
    PEER_CACHE_SIZE = 16      # direct-mapped cache of recent peers' address objects


cdef struct PeerEntry:
    PyObject *address         # owned: the address object handed to datagramReceived, or NULL
    socklen_t length
    sockaddr_storage name


cdef class DatagramSocket(Handle):
    cdef public object protocol
    cdef readonly int family
    cdef public int maxPacketSize
    cdef bint deliver_address     # datagramReceived(data, addr); else datagramReceived(data)
    cdef bint socket_connected    # connect()ed: write() uses send(), ECONNREFUSED is reported
    cdef bint batching            # delivering a batch: write()s are queued for one sendmmsg
    cdef object connected_address
    cdef readonly unsigned long long droppedDatagrams
    cdef object last_write_key
    cdef socklen_t last_write_length
    cdef sockaddr_storage last_write_name
    cdef PeerEntry peers[PEER_CACHE_SIZE]
    cdef unsigned int last_peer       # the slot of the address last handed to datagramReceived
    cdef object __weakref__

    cdef object peer_address(self, const sockaddr *name, socklen_t length)
    cdef int resolve_destination(self, object addr, sockaddr_storage *name, socklen_t *length) except -1
    cdef int parse_ip(self, object addr, sockaddr_storage *name, socklen_t *length) except -1
    cdef object send_error(self, int err)
    cdef object queue_reply(self, bytes datagram, sockaddr_storage *name, socklen_t length)
    cdef int send_replies(self) except -1
    cdef object send_buffer(self, const char *data, Py_ssize_t size, sockaddr_storage *name, socklen_t length)
    cdef int receive_one(self) except -1
    cdef int deliver(self, object receive, object data, object address) except -1
    cdef int read_error(self, int err) except -1
