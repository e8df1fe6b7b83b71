/// The L2TP agent: control connections over sockets, and the data paths of established sessions.
public enum L2TPAgent {}
