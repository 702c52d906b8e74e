/** The data plane: content-addressed artifacts served peer to peer, coordinated on the control plane. */
export { Bitfield } from "./bitfield.js";
export {
  DATA_PLANE_TRUST_POLICY,
  checkPieceSize,
  DEFAULT_PIECE_SIZE,
  describeFile,
  judgeDescriptor,
  pieceCountOf,
  pieceDigest,
  pieceLengthOf,
  rootHashOf,
  verifyDescriptor,
  type ArtifactDescriptorRecord,
  type DescribeOptions,
  type DescriptorContext,
  type DescriptorVerdict,
} from "./descriptor.js";
export { PieceStore, verifyWholeFile, type PieceListener, type PieceSource } from "./piece-store.js";
export { PIECE_DIGEST_HEADER, PieceServer, type PieceServerOptions, type PieceServerStats } from "./piece-server.js";
export { fetchArtifact, type CorruptPeerReport, type FetchOptions, type FetchProgress, type FetchResult, type PeerDirectory, type PeerInfo } from "./fetcher.js";
export { SWARM_MESSAGE_TYPES, Swarm, type AnnouncedPayload, type HavePayload, type KnownArtifact, type RefusedAnnouncement, type RequestPayload, type SwarmMessages, type SwarmOptions } from "./swarm.js";
export { nameMatches, publisherKeyFor, publishersOf, type PublisherGrant } from "./publishers.js";
export { DataPlanePeer, type DataPlanePeerOptions, type PeerFetchOptions } from "./peer.js";
export { PIECE_SERVER_CAPABILITY, pieceServerHealth, registryPeerDirectory } from "./registry-directory.js";
export { MIN_TRANSFER_BYTES_PER_SECOND } from "./transfer-deadline.js";
