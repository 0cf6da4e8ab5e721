"""The real app served in this process, without a broker: authentication, origins, host names,
hostile management answers and Socket.IO limits, checked over real HTTP and websockets."""
